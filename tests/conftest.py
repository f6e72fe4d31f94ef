"""Fixtures shared by Patch's own tests."""

import gc
import glob
import os
import subprocess
import sys
import textwrap

import pytest
import session_zygote  # tests/ is on sys.path (rootdir conftest, prepend import mode)

from pytest_patch.mpi import shm

_PRELUDE = "import gc\nfrom neuron import h\nimport patch\nfrom patch import p\nfrom patch.exceptions import *\n"


def _run_isolated(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


NO_HYPOTHESIS_PLUGIN = "-p no:hypothesispytest"
#: MPICH's ranks wait for each other by polling at full speed: a rank that waits in a
#: collective keeps a core busy until the others arrive (a rank of a test about a hang,
#: until its timeout). The suite starts its MPI runs on a machine whose cores the other
#: tests are using already, so its ranks give up the processor while they wait (what
#: they compute and report is the same).
MPI_YIELD = {"MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}


def pytest_configure(config: pytest.Config) -> None:
    """The pytest sessions the tests start run without hypothesis's pytest plugin, as
    the ``pytester`` fixture's do (see there). Set in the process that runs tests, once
    its own options are read: not in pytest-xdist's controller, whose workers would
    inherit it. Their MPI ranks yield while they wait (``MPI_YIELD``)."""
    for name, value in MPI_YIELD.items():
        os.environ.setdefault(name, value)
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        addopts = os.environ.get("PYTEST_ADDOPTS", "")
        if NO_HYPOTHESIS_PLUGIN not in addopts:
            os.environ["PYTEST_ADDOPTS"] = f"{addopts} {NO_HYPOTHESIS_PLUGIN}".strip()


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, whose sessions run without hypothesis's pytest plugin: it imports all of
    hypothesis at the end of every session (a quarter of a small session's CPU), and only
    a session with @given tests needs it (such a test deletes PYTEST_ADDOPTS again).

    ``runpytest_subprocess`` forks its ``python -m pytest`` from a warm interpreter
    (``session_zygote``): a new process for each run, without importing pytest and numpy
    again in each."""
    monkeypatch.setenv("PYTEST_ADDOPTS", NO_HYPOTHESIS_PLUGIN)
    real_popen = pytester.popen

    def popen(
        cmdargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=pytester.CLOSE_STDIN, **kw
    ):
        if stdin is pytester.CLOSE_STDIN and not kw:
            env = os.environ.copy()
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [os.getcwd(), env.get("PYTHONPATH", "")])
            )
            run = session_zygote.start(
                tuple(os.fspath(arg) for arg in cmdargs), stdout, stderr, env
            )
            if run is not None:
                return run
        return real_popen(cmdargs, stdout=stdout, stderr=stderr, stdin=stdin, **kw)

    monkeypatch.setattr(pytester, "popen", popen)
    return pytester


@pytest.fixture
def run_isolated():
    """Run code with Patch in a fresh interpreter (raw NEURON would crash this session
    on what it tests); it must exit cleanly. Returns what it printed."""
    return _run_isolated


@pytest.fixture(autouse=True)
def _collect_earlier_models():
    """Free the models of earlier tests, so each test starts from an empty simulator.

    What lives then (the suite's modules, tests and fixtures, what earlier tests cached)
    is frozen: kept out of every later garbage collection. Many tests run pytest sessions
    in this process, and the leak check of each collects all garbage after every test; a
    full collection here then looks only at what the running test made (in the suite's
    large process, a full collection took about 50 ms, a third of the in-process time).
    A frozen object is never collected, so nothing is frozen while NEURON objects live."""
    gc.collect()
    if "neuron" not in sys.modules or (
        "patch" in sys.modules and not any(sys.modules["patch"].live_objects().values())
    ):
        gc.freeze()
    yield


@pytest.fixture
def mpi_leftovers_removed():
    """For a test whose processes use MPI outside Patch (raw NEURON, a second libmpi), and
    end without finalising it: the shared-memory files MPICH kept for them, which no live
    process maps any more, are removed after the test (as Patch does for its own runs);
    else each run of the suite would leave them in memory until the machine restarts."""

    def files() -> set[str]:
        return {path for path in glob.glob("/dev/shm/*") if shm.is_segment(path)}

    before = files()
    yield
    new = files() - before
    if new:
        mapped = shm.segments(int(name) for name in os.listdir("/proc") if name.isdigit())
        mine = set()
        for path in new - mapped:
            try:
                if os.stat(path).st_uid == os.getuid():
                    mine.add(path)
            except OSError:
                pass
        shm.remove(mine)
