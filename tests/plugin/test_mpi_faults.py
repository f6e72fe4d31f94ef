"""Faults in MPI tests get one verdict, the same under ``mpiexec -n N pytest --with-mpi``
(a direct run) and from a serial ``pytest`` (a child run): MPI_Abort, unbalanced
collectives; and a direct run that ends early still says what it can (junit XML, the
tests that did not run, which rank ended it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import session_zygote

import pytest_patch.mpi
from pytest_patch.mpi import faults
from pytest_patch.mpi.faults import Finding, PhaseEnd, culprit, ended_the_run, exited
from pytest_patch.mpi.ranklog import log_path, read_events

# Slow (mpiexec runs that crash or hang): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

ABORTS = """
import pytest


@pytest.mark.mpi(min_size=2)
def test_before():
    pass


@pytest.mark.mpi(min_size=2)
def test_aborts():
    from mpi4py import MPI

    if MPI.COMM_WORLD.rank == 1:
        MPI.COMM_WORLD.Abort(3)


@pytest.mark.mpi(min_size=2)
def test_after():
    pass
"""


def run(path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "-p", "no:cacheprovider", "-rA"],
        cwd=path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def direct(path: Path, *args: str, size: int = 2) -> subprocess.CompletedProcess[str]:
    return run(path, MPIEXEC, "-n", str(size), sys.executable, "-m", "pytest", "--with-mpi", *args)


def serial(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-rA"]
    return session_zygote.run(command, cwd=path, timeout=300)


def test_mpi_abort_in_a_direct_run_names_its_rank_test_and_the_tests_not_run(tmp_path) -> None:
    (tmp_path / "test_aborts.py").write_text(ABORTS)
    done = direct(tmp_path, "--junitxml=r.xml")
    output = done.stdout + done.stderr
    assert done.returncode == 3, output  # MPI_Abort's error code
    pytest.LineMatcher(done.stdout.splitlines()).fnmatch_lines(
        [
            "pytest-patch: the MPI run ended early.*",
            "Rank 1 called MPI_Abort in test_aborts.py::test_aborts (call).",
            "rank 1 ended without finishing the session, in test_aborts.py::test_aborts "
            "(call) (called MPI_Abort)*",
            "1 test(s) did not run because the run had to end:",
            "  test_aborts.py::test_after",
        ]
    )
    # Rank 0 was ended too, so the monitor of the ranks wrote the junit XML.
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["test_before", "test_aborts", "test_after"]
    assert len(cases["test_before"]) == 0
    aborted = cases["test_aborts"].find("error")
    assert aborted is not None and "Rank 1 called MPI_Abort" in (aborted.text or "")
    not_run = cases["test_after"].find("error")
    assert not_run is not None and "did not run" in not_run.get("message", "")
    assert suite.get("errors") == "2"


def test_mpi_abort_in_a_child_run_fails_the_test_with_its_rank_and_the_rest_runs(
    tmp_path,
) -> None:
    (tmp_path / "test_aborts.py").write_text(ABORTS)
    done = serial(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    lines = pytest.LineMatcher(done.stdout.splitlines())
    lines.fnmatch_lines_random(
        [
            "PASSED test_aborts.py::test_before",
            "PASSED test_aborts.py::test_after",
            "FAILED test_aborts.py::test_aborts - [[]rank 1[]] MPI: rank 1 called MPI_Abort*",
            "* 1 failed, 2 passed *",
        ]
    )
    assert "error" not in done.stdout.splitlines()[-1], output  # no teardown error


EXITS = """
import os


def test_exits():
    from mpi4py import MPI

    if MPI.COMM_WORLD.rank == 0:  # a process the rank forks may end itself: not the rank
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
    if MPI.COMM_WORLD.rank == 1:
        os._exit(3)


def test_after():
    pass
"""


@pytest.mark.parametrize(
    ("ended", "first"),
    [
        # Every status read: the one rank mpiexec did not kill.
        ({0: "killed by SIGKILL", 1: "exited with status 3"}, (1, "exited with status 3")),
        # The culprit was reaped before anyone looked: the one rank not killed.
        ({0: "killed by SIGKILL"}, (1, "ended first, before mpiexec killed the others")),
        # The killed rank was reaped first (a loaded machine): the one that ended on its own.
        ({1: "exited with status 3"}, (1, "exited with status 3")),
        ({0: "killed by SIGSEGV"}, (0, "killed by SIGSEGV")),
        # Not known: two ranks ended on their own, or only a rank that finished was seen.
        ({0: "killed by SIGSEGV", 1: "exited with status 3"}, None),
        ({0: "exited with status 0"}, None),
        ({}, None),
    ],
)
def test_the_rank_that_ended_the_run_is_told_from_how_the_ranks_ended(ended, first) -> None:
    assert culprit(ended, 2) == first


def _phase(nodeid: str, when: str = "teardown", entered: int | None = 2) -> PhaseEnd:
    return PhaseEnd([nodeid, when], "passed", None, entered)


def test_the_first_detector_that_finds_a_fault_at_a_phase_end_decides(monkeypatch) -> None:
    same = [_phase("t.py::a"), _phase("t.py::a")]
    assert faults.at_phase_end(same, 0) == Finding({})
    # Ranks at different tests: also entered different numbers of collectives, but the
    # run stops, and only the other rank gets a note.
    apart = [_phase("t.py::a", entered=1), _phase("t.py::b", entered=3)]
    found = faults.at_phase_end(apart, 0)
    assert list(found.notes) == [1] and "out of step" in found.notes[1]
    assert found.stop == "MPI ranks ran out of step" and not found.resynchronize
    unequal = [_phase("t.py::a", entered=3), _phase("t.py::a", entered=1)]
    found = faults.at_phase_end(unequal, 1)
    assert list(found.notes) == [1] and found.resynchronize and found.stop is None

    # A detector of one's own is one function and its entry in AT_PHASE_END.
    def failed_alone(phases: list[PhaseEnd], rank: int) -> Finding:
        failed = [i for i, phase in enumerate(phases) if phase.outcome == "failed"]
        return Finding({i: "failed alone" for i in failed} if len(failed) == 1 else {})

    monkeypatch.setattr(faults, "AT_PHASE_END", (*faults.AT_PHASE_END, failed_alone))
    one_failed = [_phase("t.py::a"), PhaseEnd(["t.py::a", "teardown"], "failed", {}, 2)]
    assert faults.at_phase_end(one_failed, 0) == Finding({1: "failed alone"})


def test_the_rank_that_ended_the_run_calls_mpi_abort_or_dies_first_or_exits() -> None:
    killed = {0: "killed by SIGKILL", 1: "killed by SIGSEGV"}
    in_test = {
        0: [{"event": "test", "nodeid": "t.py::a"}],
        1: [
            {"event": "test", "nodeid": "t.py::a"},
            {"event": "report", "nodeid": "t.py::a", "when": "setup"},
            {"event": "exit", "status": 3},
        ],
    }
    assert ended_the_run(in_test, killed, 2) == (1, "killed by SIGSEGV")
    # MPICH's and Open MPI's messages name the rank that called MPI_Abort.
    for output in (
        "application called MPI_Abort(MPI_COMM_WORLD, 3) - process 0",
        "MPI_ABORT was invoked on rank 0 in communicator MPI_COMM_WORLD",
    ):
        assert ended_the_run(in_test, killed, 2, output) == (0, "called MPI_Abort")
        assert faults.aborted(in_test, output) == (0, "t.py::a", "call")
    assert ended_the_run(in_test, {}, 2, seen=0) == (0, "ended before the others")
    assert ended_the_run(in_test, {}, 2) == (1, "called os._exit(3)")
    assert ended_the_run({0: [], 1: []}, {}, 2) is None


def test_a_rank_that_exits_is_named_as_the_one_that_died_first(tmp_path) -> None:
    (tmp_path / "test_exits.py").write_text(EXITS)
    done = direct(tmp_path, "--junitxml=r.xml")
    assert done.returncode != 0
    lines = done.stdout.splitlines()
    # The report is the last thing the run says, after the launcher's own banner.
    pytest.LineMatcher(lines).fnmatch_lines(
        [
            "pytest-patch: the MPI run ended early.*",
            "Rank 1 died first (*).",
            "rank 0 ended without finishing the session, in test_exits.py::test_exits*",
            "rank 1 ended without finishing the session, in test_exits.py::test_exits (call)*",
            "1 test(s) did not run because the run had to end:",
            "  test_exits.py::test_after",
        ]
    )
    assert lines[-1] == "  test_exits.py::test_after", done.stdout
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "2"
    # The rank recorded its own end, so it is named even when the watcher sees every rank
    # gone at once (a loaded machine); the process rank 0 forked recorded nothing.
    root = Path(re.search(r"rank files and temporary directories in (\S+)", done.stdout)[1])
    events = {rank: read_events(log_path(root, rank)) for rank in (0, 1)}
    assert exited(events) == (1, "called os._exit(3)")
    assert not [e for e in events[0] if e.get("event") == "exit"]


LEAVES_SHARED_MEMORY = """
import os
from pathlib import Path

import pytest


@pytest.mark.mpi(min_size=2)
def test_exits():
    from mpi4py import MPI

    rank = MPI.COMM_WORLD.rank
    with open("/proc/self/maps") as maps:
        mapped = {line.split()[-1] for line in maps if "/dev/shm/mpich_shm_" in line}
    Path(f"segments-{rank}.txt").write_text("\\n".join(sorted(mapped)))
    MPI.COMM_WORLD.barrier()
    if rank == 1:
        os._exit(3)
    MPI.COMM_WORLD.barrier()
"""


def test_the_shared_memory_of_killed_ranks_is_removed(tmp_path) -> None:
    # MPICH keeps a file in /dev/shm for each run until its ranks finish: a rank that
    # exits, is killed or calls MPI_Abort leaves it in memory until the machine restarts.
    (tmp_path / "test_exits.py").write_text(LEAVES_SHARED_MEMORY)
    done = direct(tmp_path)
    assert done.returncode != 0
    assert "Rank 1 died first" in done.stdout, done.stdout + done.stderr
    mapped = {
        line
        for rank in (0, 1)
        for line in (tmp_path / f"segments-{rank}.txt").read_text().splitlines()
    }
    assert mapped, "the ranks mapped no MPICH shared memory"
    assert not [path for path in mapped if Path(path).exists()]


def test_the_watcher_removes_the_file_rank_0_named_when_the_ranks_are_gone_first(tmp_path):
    # On a loaded machine every rank can be gone before their watcher reads what they had
    # mapped: rank 0 names the run's file when it starts the watcher, which removes it then.
    left = Path("/dev/shm") / f"mpich_shm_test{os.getpid():x}_0"
    other = Path("/dev/shm") / f"not_mpich_test{os.getpid():x}"
    left.write_bytes(bytes(16))
    other.write_bytes(bytes(16))
    try:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        watcher = Path(pytest_patch.mpi.__file__).with_name("monitor.py")
        given = f"--shared={left}{os.pathsep}{other}"
        subprocess.run(
            [sys.executable, str(watcher), given, str(tmp_path), str(gone.pid)],
            capture_output=True,
            timeout=60,
            check=True,
        )
        assert not left.exists()
        assert other.exists(), "only files named like MPICH's are removed"
    finally:
        left.unlink(missing_ok=True)
        other.unlink(missing_ok=True)


DEADLOCK = """
def test_rank_1_leaves_rank_0_in_a_barrier(p):
    if p.parallel.rank == 1:
        raise RuntimeError("rank 1 leaves")
    p.parallel.barrier()


def test_after(p):
    pass
"""


def test_a_deadlock_with_rank_0_stuck_still_writes_junit_and_ends_with_status_1(tmp_path) -> None:
    """Rank 0, which writes junit XML, is the stuck one: the watcher writes it instead;
    the status is the abort's (1, never a launcher's 9) and Patch's report comes last."""
    (tmp_path / "test_deadlock.py").write_text(DEADLOCK)
    done = direct(tmp_path, "--junitxml=r.xml", "--mpi-timeout=120")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "BAD TERMINATION" not in output and "application called MPI_Abort" not in output
    assert done.stdout.splitlines()[-1].strip() == "test_deadlock.py::test_after", output
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    stuck = cases["test_rank_1_leaves_rank_0_in_a_barrier"].find("error")
    assert stuck is not None and "MPI deadlock" in (stuck.text or "")
    not_run = cases["test_after"].find("error")
    assert not_run is not None and "did not run" in not_run.get("message", "")


UNBALANCED = """
import pytest


@pytest.mark.mpi(min_size=2)
def test_one_rank_broadcasts(p):
    if p.parallel.rank == 0:
        p.parallel.broadcast({"a": 1})


@pytest.mark.mpi(min_size=2)
def test_after(p):
    assert p.parallel.broadcast(p.parallel.rank) == 0
"""


@pytest.mark.parametrize("mode", ["direct", "child"])
def test_unbalanced_collectives_get_the_same_verdict_in_both_modes(tmp_path, mode) -> None:
    (tmp_path / "test_unbalanced.py").write_text(UNBALANCED)
    done = direct(tmp_path) if mode == "direct" else serial(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    lines = pytest.LineMatcher(done.stdout.splitlines())
    lines.fnmatch_lines_random(
        [
            "*MPI: the ranks entered different numbers of Patch's collectives in this test*",
            "PASSED test_unbalanced.py::test_after",
        ]
    )
    # An error at its teardown, where the ranks' counts of collectives are compared.
    lines.fnmatch_lines(["ERROR test_unbalanced.py::test_one_rank_broadcasts - [[]rank 1[]] MPI*"])
