"""Under ``mpiexec -n 2 pytest --with-mpi``: one outcome per test, one report, no hang."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

# Slow (mpiexec runs and their timeouts): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

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

# A rank that waits outside any collective is only given up on at --mpi-timeout.
SLOW_RANK = """
import time

from mpi4py import MPI


def test_rank_1_is_slow():
    if MPI.COMM_WORLD.rank == 1:
        time.sleep(60)


def test_never_reached():
    pass
"""

# One rank leaves a test (fails, skips, xfails) while the others wait inside it.
LEAVES = {
    "fails": """
def test_leaves(p):
    if p.parallel.rank == LEAVER:
        raise ValueError("rank gives up")
    p.parallel.barrier()
""",
    "skips": """
import pytest


def test_leaves(p):
    if p.parallel.rank == LEAVER:
        pytest.skip("nothing to send")
    p.parallel.broadcast(None, root=LEAVER)
""",
    "xfails": """
import pytest


def test_leaves(p):
    if p.parallel.rank == LEAVER:
        pytest.xfail("known to break")
    section = p.Section()
    p.run(5)
""",
}
AFTER = """

def test_after_one(p):
    pass


def test_after_two(p):
    pass
"""
# How the rank that left is shown, for each way of leaving.
LEFT = {
    "fails": "E*ValueError: rank gives up",
    "skips": "MPI: rank * skipped (Skipped: nothing to send) at *test_leaves.py:7 and left the "
    "test while rank* still ran it.",
    "xfails": "MPI: rank * xfailed (known to break) and left the test while rank* still ran it.",
}
# The call each waiting rank is stuck in (Patch's own line for a broadcast or a run).
WAITS_IN = {
    "fails": "    p.parallel.barrier()",
    "skips": "    *Bcast(*",
    "xfails": "    *allgather(*",
}

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


def mpiexec_pytest(path: Path, size: int, *args: str, env: dict[str, str] | None = None) -> Run:
    command = [MPIEXEC, "-n", str(size), sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, *args], cwd=path, env=env, capture_output=True, text=True, timeout=240
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
            '*assert RANK != 1, "rank 1 disagrees"',
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


@pytest.mark.parametrize(
    ("how", "size"),
    [("fails", 2), ("skips", 2), ("xfails", 2), ("fails", 3)],
    ids=["fails-2", "skips-2", "xfails-2", "fails-3"],
)
def test_one_rank_leaving_a_test_others_wait_in_is_reported_at_once(
    tmp_path: Path, how: str, size: int
) -> None:
    """Reported within seconds, not at --mpi-timeout: the leaving rank's traceback or
    reason, each waiting rank's stack, and the tests that did not run."""
    leaver = size - 1
    (tmp_path / "test_leaves.py").write_text(LEAVES[how].replace("LEAVER", str(leaver)) + AFTER)
    start = time.monotonic()
    run = mpiexec_pytest(tmp_path, size, "--with-mpi", "--mpi-timeout=120", "--junitxml=r.xml")
    seconds = time.monotonic() - start
    assert run.ret == 1, run.out + run.err
    assert seconds < 60, f"reported after {seconds:.0f} s, --mpi-timeout is 120 s"
    waiting = [rank for rank in range(size) if rank != leaver]
    expected = [f"*- rank {leaver} -*", LEFT[how]]
    for rank in waiting:
        expected += [
            f"*- rank {rank} -*",
            f"MPI deadlock: rank {rank} waits in a collective in test_leaves.py::test_leaves "
            f"(call), which rank {leaver} has already left:",
            WAITS_IN[how],
            f"can only return once every rank takes part. Python stack of rank {rank}:",
            '*File "*test_leaves.py", line * in test_leaves',
        ]
    expected += [
        "MPI: 2 test(s) did not run because the run had to end:",
        "  test_leaves.py::test_after_one",
        "  test_leaves.py::test_after_two",
    ]
    run.lines.fnmatch_lines(expected)
    assert "Traceback (most recent call last)" not in run.out + run.err
    if leaver == 0:  # rank 0 reports as usual: its junit XML has the failure
        suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
        assert suite.get("failures") == "1"


def test_a_rank_waiting_outside_collectives_is_given_up_on_at_the_timeout(tmp_path) -> None:
    (tmp_path / "test_slow.py").write_text(SLOW_RANK)
    run = mpiexec_pytest(tmp_path, 2, "--with-mpi", "--mpi-timeout=8")
    assert run.ret != 0  # the status of the rank ended in its sleep, or of the abort
    run.lines.fnmatch_lines(
        [
            "*- rank 1 -*",
            "MPI deadlock: rank 1 did not finish test_slow.py::test_rank_1_is_slow (call) "
            "within 8 s*",
            "Python stack of rank 1 at the timeout:",
            '*File "*test_slow.py", line 9 in test_rank_1_is_slow',
            "*MPI deadlock in test_slow.py::test_rank_1_is_slow (call): rank(s) 1 never arrived*",
        ]
    )
    assert "test_never_reached" in run.out  # listed as not run


def test_a_session_removed_while_another_starts_is_no_error(tmp_path) -> None:
    # Two sessions of one user start at once: each removes stale session folders, so one
    # may list a folder the other has just removed (here: a folder that is gone already).
    temp = tmp_path / "tmp"
    sessions = temp / f"pytest-mpi-of-{getpass.getuser()}"
    sessions.mkdir(parents=True)
    for index in range(4):
        (sessions / f"session-gone{index}").symlink_to(tmp_path / "removed")
    (tmp_path / "test_one.py").write_text("def test_one(p):\n    assert p.parallel.size == 2\n")
    run = mpiexec_pytest(tmp_path, 2, "--with-mpi", env={**os.environ, "TMPDIR": str(temp)})
    assert run.ret == 0, run.out + run.err
    assert "1 passed" in run.out


def test_mpiexec_without_with_mpi_refuses_to_nest_mpiexec(tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("nested")
    (path / "test_nested.py").write_text(
        "import pytest\n\n@pytest.mark.mpi(min_size=2)\ndef test_two():\n    pass\n"
    )
    run = mpiexec_pytest(path, 1)
    assert run.ret == 1
    run.lines.fnmatch_lines(
        [
            "*This test needs 2 MPI ranks, but pytest was started by an MPI launcher without "
            "--with-mpi*"
        ]
    )


@pytest.mark.parametrize("size", [2, 3])
def test_a_rank_that_dies_is_reported_with_its_test(tmp_path: Path, size: int) -> None:
    (tmp_path / "test_crash.py").write_text(CRASH)
    run = mpiexec_pytest(tmp_path, size, "--with-mpi")
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


@pytest.mark.parametrize("size", [2, 3])
def test_a_message_of_one_test_never_reaches_the_next(tmp_path_factory, size: int) -> None:
    path = tmp_path_factory.mktemp("unbalanced")
    (path / "test_unbalanced.py").write_text(UNBALANCED)
    run = mpiexec_pytest(path, size, "--with-mpi", "-ra")
    assert run.ret == 1, run.out + run.err
    assert "RuntimeError: rank 1 gave up early" in run.out
    assert (
        "the ranks entered different numbers of Patch's collectives in this test (rank 0: 1, "
        "rank 1: 0" in run.out
    )
    # The next test got its own data, not the message rank 1 never received.
    assert run.out.rstrip().splitlines()[-1].count("1 passed") == 1
    assert "test_next_broadcast_gets_its_own_data" not in run.out
