"""What a user reads: usage errors under mpiexec, short summaries under xdist, the header."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pytest_patch.mpi.reporting import combine

# Slow (mpiexec runs): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
PYTEST_MPI_INSTALLED = bool(entry_points(group="pytest11", name="pytest_mpi"))

# Each rank runs pytest, then says how it ended: mpiexec's own status hides which rank
# ended how.
RANK_STATUS = (
    '"$0" -m pytest -p no:cacheprovider "$@"; '
    'echo "rank ${PMI_RANK:-$OMPI_COMM_WORLD_RANK} exited with status $?"'
)

CRASH_BANNER = "the MPI run ended early"

NOT_A_MOD = """
NEURON { POINT_PROCESS NotAMechanism }
INITIAL { total = = 0 }
"""

RANK_1_REFUSES = """
import os

import pytest


def pytest_configure(config):
    if os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK")) == "1":
        raise pytest.UsageError("rank 1 cannot use this configuration")
"""

FAILS_ON_RANK_1 = """
import pytest


def rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.rank


def test_serial():
    pass


@pytest.mark.mpi(min_size=2)
def test_disagree():
    assert rank() == 0, f"rank {rank()} disagrees"
"""


def mpiexec_pytest(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n 2 python -m pytest --with-mpi ARGS`` in ``path``; each rank's status
    ends up in the output as ``rank N exited with status S``."""
    command = [MPIEXEC, "-n", "2", "sh", "-c", RANK_STATUS, sys.executable, "--with-mpi", *args]
    return subprocess.run(
        command, cwd=path, capture_output=True, text=True, timeout=120, check=False
    )


def rank_statuses(run: subprocess.CompletedProcess[str]) -> dict[int, int]:
    found = re.findall(r"^rank (\d+) exited with status (\d+)$", run.stdout, re.MULTILINE)
    return {int(rank): int(status) for rank, status in found}


def assert_one_usage_error(run: subprocess.CompletedProcess[str], message: str) -> None:
    """``message`` printed once, as pytest prints a usage error; status 4 on every rank."""
    output = run.stdout + run.stderr
    assert rank_statuses(run) == {0: 4, 1: 4}, output
    assert run.stderr.count("ERROR: ") == 1, output
    pytest.LineMatcher(run.stderr.splitlines()).fnmatch_lines([f"ERROR: {message}"])
    assert CRASH_BANNER not in output
    assert "Traceback" not in output
    assert "test session starts" not in output


# -- a usage error under mpiexec: one report, no crash banner, status 4 on every rank ------
def test_a_missing_mod_folder_is_one_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_it.py").write_text("def test_never_runs():\n    pass\n")
    run = mpiexec_pytest(tmp_path, "--nrn-mod-dir", "nowhere")
    assert_one_usage_error(run, "--nrn-mod-dir: the mod folder *nowhere does not exist.*")


def test_a_mod_folder_that_does_not_compile_is_one_usage_error(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "not_a.mod").write_text(NOT_A_MOD)
    (tmp_path / "pytest.ini").write_text("[pytest]\nnrn_mod_dirs = broken\n")
    (tmp_path / "test_it.py").write_text("def test_never_runs():\n    pass\n")
    run = mpiexec_pytest(tmp_path)
    assert_one_usage_error(run, "nrnivmodl could not compile the mod folder *broken (not_a.mod):")
    assert run.stderr.count("INITIAL { total = = 0 }") == 1


def test_a_usage_error_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(RANK_1_REFUSES)
    (tmp_path / "test_it.py").write_text("def test_never_runs():\n    pass\n")
    run = mpiexec_pytest(tmp_path, "--mpi-timeout=20")
    assert_one_usage_error(run, "[[]rank 1[]] rank 1 cannot use this configuration")


def test_ending_before_the_session_is_no_crash(tmp_path: Path) -> None:
    run = mpiexec_pytest(tmp_path, "--markers")
    assert rank_statuses(run) == {0: 0, 1: 0}, run.stdout + run.stderr
    assert "@pytest.mark.mpi(min_size=1):" in run.stdout
    assert CRASH_BANNER not in run.stdout + run.stderr


# -- the short summary names the failing rank, with and without pytest-xdist ---------------
@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_short_summary_names_the_failing_rank(pytester: pytest.Pytester, xdist: bool) -> None:
    args = ["-p", "no:cacheprovider", "-ra"]
    if xdist:
        pytest.importorskip("xdist", reason="pytest-xdist is not installed")
        args += ["-n", "2"]
    pytester.makepyfile(test_x=FAILS_ON_RANK_1)
    result = pytester.runpytest_subprocess(*args, timeout=300)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- rank 1 -*",
            '>*assert rank() == 0, f"rank {rank()} disagrees"',
            "E*AssertionError: rank 1 disagrees",
            "*short test summary info*",
            "FAILED test_x.py::test_disagree - [[]rank 1[]] AssertionError: rank 1 disagrees",
        ]
    )
    assert "FAILED test_x.py::test_disagree - _" not in result.stdout.str()


def test_combined_report_survives_serialization(pytestconfig: pytest.Config) -> None:
    """What pytest-xdist (and --report-log) do with a report: to JSON and back."""

    def failure() -> pytest.TestReport:
        try:
            raise KeyError("on rank 2") from ValueError("first")
        except KeyError:
            info = pytest.ExceptionInfo.from_current()
        longrepr = info.getrepr(chain=True)
        return pytest.TestReport("t.py::t", ("t.py", 0, "t"), {}, "failed", longrepr, "call")

    def local() -> pytest.TestReport:
        return pytest.TestReport("t.py::t", ("t.py", 0, "t"), {}, "passed", None, "call")

    report = combine(
        local(), {0: "passed", 2: failure()}, 0, {1: "MPI: rank 1 died in t.py::t (call)."}
    )
    data = pytestconfig.hook.pytest_report_to_serializable(config=pytestconfig, report=report)
    back = pytestconfig.hook.pytest_report_from_serializable(
        config=pytestconfig, data=json.loads(json.dumps(data))
    )
    crash = back.longrepr.reprcrash
    assert crash.message == "[ranks 1, 2] KeyError: 'on rank 2'"
    assert crash.message == report.longrepr.reprcrash.message
    assert Path(crash.path).name == Path(__file__).name
    text = str(back.longrepr)
    assert text == str(report.longrepr)  # the same report, headings 80 wide either way
    pytest.LineMatcher(text.splitlines()).fnmatch_lines(
        [
            "*- rank 2 -*",
            "ValueError: first",
            "*The above exception was the direct cause of the following exception:*",
            "E*KeyError: 'on rank 2'",
            "*- rank 1 -*",
            "MPI: rank 1 died in t.py::t (call).",
        ]
    )


# -- the header says who runs MPI tests, how many ranks, in which mode ---------------------
def owner_line() -> str:
    line = "mpi: pytest-patch runs MPI tests (--with-mpi, mpi markers)"
    return line + ("; pytest-mpi's plugin stands down" if PYTEST_MPI_INSTALLED else "")


def test_header_of_a_serial_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            owner_line(),
            "mpi: serial run (1 rank); tests marked mpi(min_size=N) with N > 1 run in a child "
            "`mpiexec -n N` (--mpi-timeout 60 s)",
        ]
    )
    assert sum(line.startswith("mpi:") for line in result.stdout.lines) == 2


def test_header_under_mpiexec(tmp_path: Path) -> None:
    (tmp_path / "test_it.py").write_text("def test_it():\n    pass\n")
    run = mpiexec_pytest(tmp_path, "--mpi-timeout=30")
    assert rank_statuses(run) == {0: 0, 1: 0}, run.stdout + run.stderr
    pytest.LineMatcher(run.stdout.splitlines()).fnmatch_lines(
        [owner_line(), "mpi: 2 ranks (mpiexec), --mpi-timeout 30 s, rank files and *"]
    )
    assert run.stdout.count(owner_line()) == 1
