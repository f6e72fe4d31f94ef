"""Under ``mpiexec -n 2 pytest --with-mpi``: one outcome per test, one report, no hang."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

SUITE = """
import pytest
from mpi4py import MPI

RANK = MPI.COMM_WORLD.rank


def test_passes(p):
    assert p.parallel.size == 2


def test_fails_on_rank_1():
    print(f"output of rank {RANK}")
    assert RANK != 1, "rank 1 disagrees"


def test_skips_on_rank_1():
    if RANK == 1:
        pytest.skip("nothing to do on rank 1")


@pytest.mark.mpi(min_size=3)
def test_needs_three():
    pass


@pytest.mark.mpi_skip
def test_not_under_mpi():
    pass


def test_hoc_error_on_rank_1(p):
    if RANK == 1:
        p.sqrt(-1)


def test_after_the_hoc_error(tmp_path):
    (tmp_path / "rank.txt").write_text(str(RANK))
"""

DEADLOCK = """
from mpi4py import MPI


def test_rank_0_gives_up_before_the_barrier():
    if MPI.COMM_WORLD.rank == 0:
        raise ValueError("rank 0 gives up")
    MPI.COMM_WORLD.barrier()


def test_never_reached():
    pass
"""

CRASH = """
import ctypes

from mpi4py import MPI


def test_passes():
    pass


def test_segfault_on_rank_1():
    if MPI.COMM_WORLD.rank == 1:
        ctypes.string_at(0)
    MPI.COMM_WORLD.barrier()
"""


@dataclass
class Run:
    """A finished pytest run: exit status, output, and a matcher over its stdout lines."""

    ret: int
    out: str
    err: str

    @property
    def lines(self) -> pytest.LineMatcher:
        return pytest.LineMatcher(self.out.splitlines())


def mpiexec_pytest(path: Path, size: int, *args: str) -> Run:
    command = [MPIEXEC, "-n", str(size), sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, *args], cwd=path, capture_output=True, text=True, timeout=120, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """One ``mpiexec -n 2`` run of SUITE, shared by the checks below."""
    path = tmp_path_factory.mktemp("session")
    (path / "test_suite.py").write_text(SUITE)
    run = mpiexec_pytest(
        path, 2, "--with-mpi", "-ra", f"--basetemp={path / 'base'}", "--junitxml=report.xml"
    )
    return run, path


def test_failure_on_one_rank_is_reported_once_with_its_traceback(session) -> None:
    run, _ = session
    assert run.ret == 1
    run.lines.fnmatch_lines(
        [
            "*_ test_fails_on_rank_1 _*",
            "*- rank 1 -*",
            "*assert RANK != 1, \"rank 1 disagrees\"",
            "E*AssertionError: rank 1 disagrees",
            "*- Captured stdout call ?rank 0? -*",
            "output of rank 0",
            "*- Captured stdout call ?rank 1? -*",
            "output of rank 1",
        ]
    )
    out = run.out
    assert out.count("FAILED test_suite.py::test_fails_on_rank_1 - [rank 1] AssertionError") == 1
    assert out.count("test session starts") == 1
    assert "2 failed, 2 passed, 3 skipped" in run.out.splitlines()[-1]


def test_skip_on_one_rank_skips_and_too_few_ranks_say_why(session) -> None:
    run, _ = session
    run.lines.fnmatch_lines_random(
        [
            "SKIPPED * [[]rank 1[]] Skipped: nothing to do on rank 1",
            "SKIPPED * needs 3 MPI ranks (mpi(min_size=3)) but the MPI world has 2*",
            "SKIPPED * test does not work under MPI",
        ]
    )


def test_a_hoc_error_fails_its_test_only(session) -> None:
    run, _ = session
    run.lines.fnmatch_lines(["FAILED test_suite.py::test_hoc_error_on_rank_1 - [[]rank 1[]]*"])
    assert "sqrt" in run.out
    assert "MPI_Abort" not in run.out + run.err


def test_junit_written_once_and_same_exit_status_on_every_rank(session) -> None:
    run, path = session
    suite = ET.parse(path / "report.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "2", "3")
    assert run.out.count("generated xml file") == 1
    statuses = []
    for rank in (0, 1):
        lines = (path / "base" / f"rank-{rank}.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        statuses += [event["exitstatus"] for event in events if event["event"] == "finish"]
    assert statuses == [1, 1]


def test_each_rank_has_its_own_tmp_path(session) -> None:
    _, path = session
    for rank in (0, 1):
        written = path / "base" / f"rank-{rank}" / "test_after_the_hoc_error0" / "rank.txt"
        assert written.read_text() == str(rank)


def test_a_rank_stuck_in_a_collective_ends_the_run_with_a_report(tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("deadlock")
    (path / "test_deadlock.py").write_text(DEADLOCK)
    run = mpiexec_pytest(path, 2, "--with-mpi", "--mpi-timeout=5", "--junitxml=report.xml")
    assert run.ret == 1
    run.lines.fnmatch_lines(
        [
            "*- rank 0 -*",
            "E*ValueError: rank 0 gives up",
            "*- rank 1 -*",
            "MPI deadlock: rank 1 did not finish "
            "test_deadlock.py::test_rank_0_gives_up_before_the_barrier (call) within 5 s*",
            "Python stack of rank 1 at the timeout:",
            '*File "*test_deadlock.py", line 8 in test_rank_0_gives_up_before_the_barrier',
            "*MPI deadlock in test_deadlock.py::test_rank_0_gives_up_before_the_barrier (call):"
            " rank(s) 1 never arrived*",
            "*1 failed in *",
        ]
    )
    assert "test_never_reached" not in run.out
    assert "Traceback (most recent call last)" not in run.out + run.err
    suite = ET.parse(path / "report.xml").getroot().find("testsuite")
    assert suite.get("failures") == "1"


def test_mpiexec_without_with_mpi_refuses_to_nest_mpiexec(tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("nested")
    (path / "test_nested.py").write_text(
        "import pytest\n\n@pytest.mark.mpi(min_size=2)\ndef test_two():\n    pass\n"
    )
    run = mpiexec_pytest(path, 1)
    assert run.ret == 1
    run.lines.fnmatch_lines(
        ["*This test needs 2 MPI ranks, but pytest was started by an MPI launcher without "
         "--with-mpi*"]
    )  # fmt: skip


def test_a_rank_that_dies_is_reported_with_its_test(tmp_path: Path) -> None:
    (tmp_path / "test_crash.py").write_text(CRASH)
    run = mpiexec_pytest(tmp_path, 2, "--with-mpi")
    assert run.ret != 0
    run.lines.fnmatch_lines(
        [
            "pytest-patch: the MPI run ended early.*",
            "rank 1 ended without finishing the session, in test_crash.py::test_segfault_on_rank_1"
            " (call)*; its last result: test_crash.py::test_segfault_on_rank_1 (setup) passed",
        ]
    )
    assert "Fatal Python error: Segmentation fault" in run.err


UNBALANCED = """
def test_rank_1_raises_before_the_broadcast(p):
    if p.parallel.rank == 1:
        raise RuntimeError("rank 1 gave up early")
    p.parallel.broadcast({"a": 1}, root=0)


def test_next_broadcast_gets_its_own_data(p):
    assert p.parallel.broadcast(5 if p.parallel.rank == 0 else None, root=0) == 5
"""


def test_a_message_of_one_test_never_reaches_the_next(tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("unbalanced")
    (path / "test_unbalanced.py").write_text(UNBALANCED)
    run = mpiexec_pytest(path, 2, "--with-mpi", "-ra")
    assert run.ret == 1, run.out + run.err
    assert "RuntimeError: rank 1 gave up early" in run.out
    assert (
        "the ranks entered different numbers of Patch's collectives in this test (rank 0: 1, "
        "rank 1: 0;" in run.out
    )
    # The next test got its own data, not the message rank 1 never received.
    assert run.out.rstrip().splitlines()[-1].count("1 passed") == 1
    assert "test_next_broadcast_gets_its_own_data" not in run.out
