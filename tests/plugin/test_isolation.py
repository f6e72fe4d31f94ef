"""``nrn_isolated`` / ``nrn_isolate``: hoc models tested on a fresh NEURON per test.

Real pytest runs in subprocesses, real NEURON, real nrnivmodl: the hoc model is the
example repository's (examples/hoc_cell: a PyrCell template, the kadapt mechanism and a
step-current protocol run by ``load_file``), its mechanisms compiled once per module.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

# Slow (fresh and forked NEURON processes per test): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hoc_cell"
# The mod folder is the module's compiled copy (by its absolute path), so that every
# test's session finds the build the `compiled` fixture made in its copied cache.
INI = """
[pytest]
nrn_mod_dirs = {mod}
{extra}
"""
# Runs the example's protocol with a step of `amp` nA, as a modeller's test would.
STEP = """
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def in_model_folder(monkeypatch, request):
    monkeypatch.chdir(request.config.rootpath / "model")


def run_step(p, amp):
    p(f"stim_amp = {amp}")
    p.load_file("step.hoc")
    return np.array(p.cell.spikes)
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's model and mechanisms, compiled once for this module's runs."""
    root = tmp_path_factory.mktemp("hoc_cell")
    shutil.copytree(EXAMPLE / "mod", root / "mod")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import patch; patch.load_mechanisms('mod', cache='.nrn-mod-cache')",
        ],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return root


@pytest.fixture
def hoc_repo(pytester: pytest.Pytester, compiled: Path) -> pytest.Pytester:
    """A model repository: the hoc model, its mod folder (built already) and an ini file."""
    shutil.copytree(compiled, pytester.path, dirs_exist_ok=True)
    shutil.copytree(EXAMPLE / "model", pytester.path / "model")
    pytester.makeini(INI.format(mod=compiled / "mod", extra=""))
    return pytester


def run(pytester: pytest.Pytester, *args: str, timeout: float = 300) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)


# -- the two failures of a hoc model under the plugin ------------------------------------
def test_a_leak_held_by_hoc_is_named_with_isolation_as_the_fix(hoc_repo: pytest.Pytester) -> None:
    hoc_repo.makepyfile(
        test_model=STEP
        + """
KEPT = []


def test_protocol(p):
    assert len(run_step(p, 0.3)) > 15


def test_python_keeps_a_section(p):
    KEPT.append(p.Section(name="kept"))
"""
    )
    result = run(hoc_repo)
    result.assert_outcomes(passed=2, errors=2)
    out = result.stdout.str()
    hoc_report = out[out.index("ERROR at teardown of test_protocol") :]
    hoc_report = hoc_report[: hoc_report.index("ERROR at teardown of test_python")]
    assert "PyrCell[0].soma" in hoc_report and "IClamp[0]" in hoc_report
    assert "the hoc template instance PyrCell[0] (hoc variable cell)" in hoc_report
    assert "the hoc variable stim holds IClamp[0]" in hoc_report
    assert "@pytest.mark.nrn_isolated" in hoc_report and "nrn_isolate = test" in hoc_report
    assert "module-level list" not in hoc_report
    python_report = out[out.index("ERROR at teardown of test_python_keeps_a_section") :]
    # Not the short summary, whose lines pytest does not shorten under CI (CI=true).
    python_report = python_report[: python_report.index("short test summary info")]
    assert "KEPT in module test_model" in python_report
    assert "module-level list" in python_report
    assert "Held by hoc" not in python_report


def test_a_leak_report_names_a_self_reference_and_a_python_container(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_model="""
from neuron import h

h('''
begintemplate SelfCell
public soma, CellRef, destroy
create soma
objref CellRef, nothing, this
proc init() { CellRef = this }
proc destroy() { CellRef = nothing }
endtemplate SelfCell
begintemplate PlainCell
public soma
create soma
endtemplate PlainCell
''')
CELLS = []


def test_keeps_itself(p):
    cell = p.SelfCell()


def test_destroys_itself(p):
    cell = p.SelfCell()
    cell.destroy()


def test_a_list_keeps_it(p):
    CELLS.append(p.PlainCell())
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, errors=2)
    out = result.stdout.str()
    itself = out[out.index("ERROR at teardown of test_keeps_itself") :]
    itself = itself[: itself.index("ERROR at teardown of test_a_list")]
    assert (
        "the hoc template instance SelfCell[0], which references itself (objref CellRef) "
        "holds SelfCell[0].soma"
    ) in itself
    assert "destroy()" in itself and "nrn_isolated" not in itself
    listed = out[out.index("ERROR at teardown of test_a_list_keeps_it") :]
    listed = listed[: listed.index("short test summary info")]
    assert "CELLS in module test_model" in listed
    assert "Held by hoc" not in listed and "nrn_isolated" not in listed


SECOND_LOAD = (
    STEP
    + """

def test_strong_step(p):
    assert len(run_step(p, 0.3)) > 15


def test_weak_step(p):
    assert len(run_step(p, 0.15)) < 5
"""
)


def test_without_isolation_a_second_load_reads_the_first_tests_vectors(
    hoc_repo: pytest.Pytester,
) -> None:
    hoc_repo.makepyfile(test_model=SECOND_LOAD)
    result = run(hoc_repo, "--nrn-leaks=off", "-rA")
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    out = result.stdout.str()
    assert "assert 25 < 5" in out  # the first test's 25 spikes, read again
    assert out.count("spikes for a") == 1  # the protocol ran once
    assert "ReloadWarning" in out


def test_isolated_each_test_runs_its_own_simulation(hoc_repo: pytest.Pytester) -> None:
    hoc_repo.makepyfile(test_model=SECOND_LOAD)
    result = run(hoc_repo, "--nrn-leaks=off", "--nrn-isolate=test", "-rA")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "step.hoc: 25 spikes for a 0.3 nA step" in out
    assert "step.hoc: 1 spikes for a 0.15 nA step" in out
    # And with the leak check on: what hoc holds ends with the isolated process.
    run(hoc_repo, "--nrn-isolate=test").assert_outcomes(passed=2)
    # The marker does the same for the tests that carry it.
    hoc_repo.makepyfile(
        test_model="import pytest\npytestmark = pytest.mark.nrn_isolated\n" + SECOND_LOAD
    )
    run(hoc_repo).assert_outcomes(passed=2)


def test_an_isolated_test_writes_and_checks_its_goldens(hoc_repo: pytest.Pytester) -> None:
    hoc_repo.makepyfile(
        test_golden=STEP
        + """

@pytest.mark.nrn_isolated
def test_spikes_match_the_golden(p, spike_regression):
    spike_regression.check(run_step(p, 0.3))
"""
    )
    first = run(hoc_repo)
    first.assert_outcomes(failed=1)
    assert "had no golden files, so they were written" in first.stdout.str()
    goldens = list((hoc_repo.path / "test_golden").iterdir())
    assert len(goldens) == 1 and goldens[0].name.startswith("test_spikes_match_the_golden")
    run(hoc_repo).assert_outcomes(passed=1)
    # A changed model fails against the golden the isolated process read.
    model = hoc_repo.path / "model" / "step.hoc"
    model.write_text(model.read_text().replace("stim.del = 50", "stim.del = 60"))
    changed = run(hoc_repo)
    changed.assert_outcomes(failed=1)


def test_the_docs_example_runs_as_written(hoc_repo: pytest.Pytester) -> None:
    page = (EXAMPLE.parents[1] / "docs" / "hoc.md").read_text()
    example = re.findall(r"```python\n(.*?)```", page, re.S)[0]  # the protocol's tests
    [ini] = re.findall(r"```ini\n(.*?)```", page, re.S)
    hoc_repo.makeini(ini.replace("testpaths = tests\n", ""))
    hoc_repo.makeconftest(
        "import pytest\n\n\n@pytest.fixture(autouse=True)\ndef in_model_folder(monkeypatch, request):\n"
        "    monkeypatch.chdir(request.config.rootpath / 'model')\n"
    )
    hoc_repo.makepyfile(test_docs=example)
    run(hoc_repo).assert_outcomes(passed=2)


def test_module_isolation_shares_one_neuron_per_module(hoc_repo: pytest.Pytester) -> None:
    record = """
import os


def test_{name}(p):
    p("create {name}")
    with open("{name}.pid", "w") as file:
        file.write(str(os.getpid()))
"""
    check = """
def test_{name}_sees_its_own_section(p):
    assert sorted(section.name() for section in p.allsec()) == {seen!r}
"""
    hoc_repo.makepyfile(
        test_one=record.format(name="first") + check.format(name="first", seen=["first"]),
        test_two=record.format(name="second") + check.format(name="second", seen=["second"]),
    )
    run(hoc_repo, "--nrn-isolate=module", "-p", "no:randomly").assert_outcomes(passed=4)
    pids = {path.read_text() for path in hoc_repo.path.glob("*.pid")}
    assert len(pids) == 2 and str(os.getpid()) not in pids


def test_isolated_tests_start_warm_and_leave_the_session_alone(hoc_repo: pytest.Pytester) -> None:
    hoc_repo.makepyfile(
        test_mixed="""
import os

import pytest

PARENT = os.getpid()


@pytest.fixture(scope="module")
def shared():
    return "module fixture"


def test_in_the_session(p, shared):
    assert os.getpid() == PARENT


@pytest.mark.nrn_isolated
def test_isolated(p, shared, request):
    assert os.getpid() != PARENT
    assert request.config.getoption("nrn_leaks") == "warn"  # the session's options
    section = p.Section()
    section.insert("kadapt")  # the repository's mechanisms are loaded
    p("create made_in_hoc")


class TestAfter:
    def test_hoc_state_did_not_carry_over(self, p):
        assert [section.name() for section in p.allsec()] == []
""",
        test_other="def test_other_module(p):\n    pass\n",
    )
    result = run(hoc_repo, "--nrn-leaks=warn", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["nrn isolation: tests marked nrn_isolated on a fresh NEURON*"])


# -- reports ---------------------------------------------------------------------------
def test_outcome_traceback_output_and_junit_come_back(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_reports="""
import sys

import pytest

pytestmark = pytest.mark.nrn_isolated


def test_fails(record_property):
    record_property("cell", "PyrCell")
    print("to stdout from the isolated test")
    print("to stderr", file=sys.stderr)
    assert 2 + 2 == 5


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


def test_skips_itself():
    pytest.skip("decided inside the isolated process")


@pytest.mark.xfail(reason="known", strict=True)
def test_xfails():
    assert False


@pytest.fixture
def broken():
    raise RuntimeError("setup broke")


def test_setup_error(broken):
    pass
"""
    )
    result = run(pytester, "--junitxml=report.xml", "-o", "junit_logging=all", "-rA")
    result.assert_outcomes(failed=1, skipped=2, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] test_reports.py:*: decided inside the isolated process"]
    )
    result.stdout.fnmatch_lines(
        [
            "*def test_fails(record_property):*",
            "E       assert (2 + 2) == 5",
            "*Captured stdout call*",
            "to stdout from the isolated test",
            "*Captured stderr call*",
            "to stderr",
        ]
    )
    assert "RuntimeError: setup broke" in result.stdout.str()
    cases = {
        case.get("name"): case
        for case in ElementTree.parse(pytester.path / "report.xml").iter("testcase")
    }
    assert set(cases) == {
        "test_fails",
        "test_skipped",
        "test_skips_itself",
        "test_xfails",
        "test_setup_error",
    }
    failed = cases["test_fails"]
    assert failed.find("failure") is not None
    assert "to stdout from the isolated test" in (failed.findtext("system-out") or "")
    assert [(prop.get("name"), prop.get("value")) for prop in failed.iter("property")] == [
        ("cell", "PyrCell")
    ]
    assert cases["test_setup_error"].find("error") is not None


def test_a_crash_fails_only_its_own_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crashes="""
import ctypes
import os

import pytest

pytestmark = pytest.mark.nrn_isolated


def test_before():
    pass


def test_segfaults():
    ctypes.string_at(0)


def test_exits():
    os._exit(3)


def test_after():
    pass
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    assert (
        "running test_crashes.py::test_segfaults was killed by SIGSEGV (signal 11) during its call"
        in out
    )
    assert 'test_crashes.py", line 14 in test_segfaults' in out  # the stack where it died
    assert "running test_crashes.py::test_exits exited with status 3 during its call" in out


LEAVES_PROCESSES = """
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.nrn_isolated
SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]


def test_starts_a_subprocess(tmp_path_factory):
    child = subprocess.Popen(SLEEP)
    with open(os.environ["PIDS"], "a") as pids:
        pids.write(f"{child.pid}\\n")


def test_forks_and_exits():
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, SLEEP)
    with open(os.environ["PIDS"], "a") as pids:
        pids.write(f"{pid}\\n")
    os._exit(0)


def test_after():
    pass
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_processes_an_isolated_test_started_end_with_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = pytester.path / "pids"
    monkeypatch.setenv("PIDS", str(pids))
    pytester.makepyfile(test_leaves=LEAVES_PROCESSES)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)  # os._exit(0) before its report
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2
    try:
        assert [pid for pid in started if alive(pid)] == []
    finally:
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_unsendable_exception_and_huge_output_are_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_unsendable="""
import threading

import pytest


class Locked(Exception):
    def __init__(self):
        super().__init__("holds a lock")
        self.lock = threading.Lock()

    def __reduce__(self):
        raise TypeError("cannot pickle a Locked")


@pytest.mark.nrn_isolated
def test_raises_unpicklable():
    raise Locked()


@pytest.mark.nrn_isolated
def test_prints_a_lot():
    print("start of output")
    print("x" * 5_000_000)
    print("end of output")
    assert False, "after a lot of output"
"""
    )
    result = run(pytester, "-rA")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "Locked: holds a lock" in out
    assert "after a lot of output" in out
    assert "start of output" in out and "end of output" in out
    assert "characters of this isolated test's output cut here" in out


def test_xdist_workers_isolate_their_own_tests(hoc_repo: pytest.Pytester) -> None:
    hoc_repo.makepyfile(
        test_many=STEP
        + """
import os


@pytest.mark.parametrize("amp", [0.0, 0.15, 0.3, 0.0, 0.15, 0.3])
def test_step(p, amp, request):
    spikes = run_step(p, amp)
    assert len(spikes) == {0.0: 0, 0.15: 1, 0.3: 25}[amp]
    name = request.node.callspec.id
    with open(request.config.rootpath / f"{name}.pid", "w") as file:
        file.write(f"{os.getpid()} {os.environ['PYTEST_XDIST_WORKER']}")
"""
    )
    result = run(hoc_repo, "-n", "2", "--nrn-isolate=test")
    result.assert_outcomes(passed=6)
    seen = [path.read_text().split() for path in hoc_repo.path.glob("*.pid")]
    assert len(seen) == 6
    assert len({pid for pid, _ in seen}) == 6
    assert {worker for _, worker in seen} == {"gw0", "gw1"}


def test_an_isolated_test_needing_two_ranks_gets_its_own_world(hoc_repo: pytest.Pytester) -> None:
    hoc_repo.makepyfile(
        test_worlds="""
import os

import pytest

pytestmark = [pytest.mark.nrn_isolated, pytest.mark.mpi(min_size=2)]


@pytest.mark.parametrize("name", ["first", "second"])
def test_world(p, name):
    assert p.parallel.nhost() == 2
    assert [section.name() for section in p.allsec()] == []
    p(f"create {name}")  # hoc-held: would carry into a shared world
    with open(f"{name}.{p.parallel.rank}.pid", "w") as file:
        file.write(str(os.getpid()))
"""
    )
    run(hoc_repo).assert_outcomes(passed=2)
    pids = {path.read_text() for path in hoc_repo.path.glob("*.pid")}
    assert len(pids) == 4


@pytest.mark.parametrize(
    ("unsafe", "because"),
    [
        ("from mpi4py import MPI  # initialises MPI", "MPI is initialised"),
        ("from patch import p\np.parallel.nthread(2)", "NEURON runs threads"),
    ],
    ids=["mpi", "threads"],
)
def test_fresh_processes_when_fork_is_unsafe(
    pytester: pytest.Pytester, unsafe: str, because: str
) -> None:
    pytester.makeconftest(
        f"""
import os

{unsafe}

os.environ.setdefault("SESSION_PID", str(os.getpid()))  # the first process to get here
"""
    )
    pytester.makepyfile(
        test_fresh="""
import os

import pytest


@pytest.mark.nrn_isolated
def test_isolated(p, request):
    assert os.getpid() != int(os.environ["SESSION_PID"])
    assert request.config.getoption("nrn_leaks") == "warn"
    p("create made_in_hoc")


@pytest.mark.nrn_isolated
def test_also_isolated(p):
    assert [section.name() for section in p.allsec()] == []


@pytest.mark.nrn_isolated
def test_exits():
    os._exit(4)
"""
    )
    result = run(pytester, "--nrn-leaks", "warn")
    result.assert_outcomes(passed=2, failed=1)
    assert (
        "running test_fresh.py::test_exits exited with status 4 during its call"
        in result.stdout.str()
    )
    result.stdout.fnmatch_lines(
        [f"nrn isolation: isolated tests ran in fresh python processes, * because {because}*"]
    )


INITIALISES_MPI = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.nrn_isolated


@pytest.fixture
def world(request):
    from mpi4py import MPI  # a world of one: MPICH maps a shared-memory file for it

    with open("/proc/self/maps") as maps:
        mapped = {line.split()[-1] for line in maps if "/dev/shm/mpich_shm_" in line}
    Path(f"{request.node.name}.segments").write_text("\\n".join(sorted(mapped)))
    return MPI.COMM_WORLD


def test_finishes(world):
    assert world.size == 1


def test_exits(world):
    os._exit(3)
"""


def test_the_shared_memory_of_mpi_in_isolated_tests_is_removed(pytester: pytest.Pytester) -> None:
    # An isolated process ends with os._exit, which skips MPI_Finalize: MPICH's file for its
    # world stayed in /dev/shm, in memory until the machine restarts; and so did the file
    # of one that died.
    pytester.makepyfile(test_world=INITIALISES_MPI)
    run(pytester).assert_outcomes(passed=1, failed=1)
    mapped = {
        line
        for name in ("test_finishes", "test_exits")
        for line in (pytester.path / f"{name}.segments").read_text().splitlines()
    }
    assert len(mapped) == 2, "the isolated processes mapped no MPICH shared memory"
    assert not [path for path in mapped if Path(path).exists()]


def test_a_timeout_ends_the_isolated_test_and_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hangs="""
import time

import pytest

pytestmark = pytest.mark.nrn_isolated


def test_hangs():
    time.sleep(120)


def test_next():
    pass
"""
    )
    start = time.monotonic()
    result = run(pytester, "--timeout", "3")
    assert time.monotonic() - start < 60  # the hung process did not hold the session
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["ERROR test_hangs.py::test_hangs - Failed: Timeout (>3.0s)*"])


def test_an_interrupted_session_leaves_no_process_behind(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_slow="""
import os
import time

import pytest


@pytest.mark.nrn_isolated
def test_sleeps():
    with open("pids.txt", "w") as file:
        file.write(f"{os.getpid()} {os.getppid()}")  # the isolated process, its zygote
    time.sleep(120)
"""
    )
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A suite run as a shell's background job starts with SIGINT ignored, and Python
        # then keeps it ignored: Ctrl-C is what this session must get.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pids = pytester.path / "pids.txt"
    deadline = time.monotonic() + 60
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    isolated, zygote = map(int, pids.read_text().split())
    session.send_signal(signal.SIGINT)
    output, _ = session.communicate(timeout=60)
    assert session.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    for pid in (isolated, zygote):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mark", "shown", "workers"),
    [
        ("nrn_isolated(True)", "got True", []),
        ("nrn_isolated(scope='module')", "got scope='module'", []),
        ("nrn_isolated(True)", "got True", ["-n", "2"]),
    ],
    ids=["positional", "keyword", "xdist"],
)
def test_marker_arguments_fail_collection_with_the_usage(
    pytester: pytest.Pytester, mark: str, shown: str, workers: list[str]
) -> None:
    pytester.makepyfile(
        f"import pytest\n\n@pytest.mark.{mark}\ndef test_marked():\n    pass\n\n"
        "def test_fine():\n    pass\n"
    )
    result = run(pytester, *workers)
    # pytest-xdist reports the collection error of each worker and exits with "failed".
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if workers else pytest.ExitCode.INTERRUPTED)
    assert result.parseoutcomes()["errors"] == (2 if workers else 1)
    result.stdout.fnmatch_lines(
        [
            f"*test_marked: @pytest.mark.nrn_isolated takes no arguments, {shown}; use "
            "@pytest.mark.nrn_isolated without arguments on a test, class or module*"
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_an_unknown_isolation_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nnrn_isolate = always\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nrn_isolate = 'always' is not an isolation mode: use test*"])


def test_a_direct_mpiexec_session_runs_isolated_tests_outside_its_world(
    pytester: pytest.Pytester,
) -> None:
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which(
        "mpiexec"
    )
    assert mpiexec, "the mpich wheel provides mpiexec"
    pytester.makepyfile(
        test_direct="""
import os

import pytest
from neuron import h


@pytest.mark.nrn_isolated
def test_one(p):
    assert h.name_declared("kept_by_hoc") == 0
    p("create kept_by_hoc")
    assert p.parallel.nhost() == 1 and "PMI_RANK" not in os.environ


@pytest.mark.nrn_isolated
def test_two(p):
    assert h.name_declared("kept_by_hoc") == 0
    p("create kept_by_hoc")


@pytest.mark.nrn_isolated
def test_fails(p):
    assert "isolated" == "failure"


@pytest.mark.nrn_isolated
def test_skips(p):
    pytest.skip("an isolated reason")


@pytest.mark.nrn_isolated
@pytest.mark.mpi(min_size=2)
def test_needs_a_world_of_its_own(p):
    pass


@pytest.mark.mpi(min_size=2)
def test_in_the_world(p):
    assert p.parallel.nhost() == 2
    assert p.parallel.broadcast(p.parallel.rank, root=1) == 1
"""
    )
    command = [
        mpiexec,
        "-n",
        "2",
        sys.executable,
        "-m",
        "pytest",
        "--with-mpi",
        "-p",
        "no:cacheprovider",
        "-rA",
    ]
    both = subprocess.run(command, cwd=pytester.path, capture_output=True, text=True, timeout=300)
    out = both.stdout
    assert both.returncode == pytest.ExitCode.TESTS_FAILED, out + both.stderr
    for line in [
        "PASSED test_direct.py::test_one",
        "PASSED test_direct.py::test_two",
        "PASSED test_direct.py::test_in_the_world",
        "SKIPPED [1] test_direct.py:27: an isolated reason",
        "FAILED test_direct.py::test_fails",
    ]:
        assert line in out, out
    assert "1 failed, 3 passed, 2 skipped" in out
    assert "FAILED test_direct.py::test_fails - [rank 0] AssertionError" in out  # ran once
    # The one test that cannot run here is skipped on every rank, naming the commands.
    assert (
        "run it with a serial `python -m pytest test_direct.py::test_needs_a_world_of_its_own`"
        in out
    )
    assert out.count("== 1 failed, 3 passed") == 1  # said once, by rank 0
    alone = subprocess.run(
        [*command, "test_direct.py::test_needs_a_world_of_its_own"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alone.returncode == 0, alone.stdout + alone.stderr
