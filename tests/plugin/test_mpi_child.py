"""A serial ``pytest`` runs tests that need N ranks in a child ``mpiexec -n N``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import session_zygote

from pytest_patch.mpi.launcher import LauncherError, Library, choose

# Slow (child mpiexec runs): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

SUITE = """
import ctypes
import os

import pytest


def rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.rank


def test_serial_in_the_parent():
    assert "PMI_RANK" not in os.environ


@pytest.mark.mpi(min_size=2)
def test_passes_on_two_ranks():
    from mpi4py import MPI

    assert MPI.COMM_WORLD.size == 2


@pytest.mark.mpi(min_size=2)
class TestGroup:
    @pytest.mark.parametrize("value", [1, 2])
    def test_parametrized(self, value):
        print(f"value {value} on rank {rank()}")
        assert value == 1 or rank() == 0, f"value {value} fails on rank {rank()}"


@pytest.mark.mpi(min_size=2)
def test_segfault_on_rank_1():
    if rank() == 1:
        ctypes.string_at(0)
    from mpi4py import MPI

    MPI.COMM_WORLD.barrier()


@pytest.mark.mpi(min_size=2)
def test_after_the_crash():
    pass


@pytest.mark.mpi(min_size=3)
def test_rank_2_leaves():
    if rank() == 2:
        os._exit(3)
    from mpi4py import MPI

    MPI.COMM_WORLD.barrier()


@pytest.mark.mpi(min_size=2)
def test_fails_before_the_barrier(p):
    if rank() == 0:
        raise ValueError("rank 0 gives up")
    p.parallel.barrier()


@pytest.mark.mpi(min_size=2)
def test_skips_before_the_broadcast(p):
    if rank() == 1:
        pytest.skip("nothing to send from rank 1")
    p.parallel.broadcast(None, root=1)


@pytest.mark.mpi(min_size=2)
def test_xfails_before_the_run(p):
    if rank() == 0:
        pytest.xfail("rank 0 expects this to break")
    section = p.Section()
    p.run(5)


@pytest.mark.mpi(min_size=2)
def test_after_the_deadlocks(p):
    assert p.parallel.broadcast(5 if rank() == 0 else None, root=0) == 5


@pytest.mark.mpi(min_size=3)
def test_rank_2_fails_before_the_barrier(p):
    if rank() == 2:
        raise ValueError("rank 2 gives up")
    p.parallel.barrier()


@pytest.mark.mpi(min_size=3)
def test_after_on_three_ranks(p):
    assert p.parallel.broadcast(5 if rank() == 2 else None, root=2) == 5
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One serial run of SUITE: child runs of 2 and 3 ranks, new ones after each early end."""
    path = tmp_path_factory.mktemp("children")
    (path / "test_suite.py").write_text(SUITE)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-ra"]
    return session_zygote.run(
        [*command, "--mpi-timeout=150"],
        cwd=path,
        timeout=600,
    )


def lines(run: subprocess.CompletedProcess[str]) -> pytest.LineMatcher:
    return pytest.LineMatcher(run.stdout.splitlines())


def test_outcomes_of_the_child_runs_are_the_parents(run) -> None:
    assert run.returncode == 1
    lines(run).fnmatch_lines_random(
        [
            "test_suite.py::test_serial_in_the_parent PASSED*",
            "test_suite.py::test_passes_on_two_ranks PASSED*",
            "test_suite.py::TestGroup::test_parametrized[[]1[]] PASSED*",
            "test_suite.py::TestGroup::test_parametrized[[]2[]] FAILED*",
            "test_suite.py::test_segfault_on_rank_1 FAILED*",
            "test_suite.py::test_after_the_crash PASSED*",
            "test_suite.py::test_rank_2_leaves FAILED*",
            "test_suite.py::test_fails_before_the_barrier FAILED*",
            "test_suite.py::test_skips_before_the_broadcast FAILED*",
            "test_suite.py::test_xfails_before_the_run FAILED*",
            "test_suite.py::test_after_the_deadlocks PASSED*",
            "test_suite.py::test_rank_2_fails_before_the_barrier FAILED*",
            "test_suite.py::test_after_on_three_ranks PASSED*",
        ]
    )


def test_a_failing_rank_shows_its_traceback_in_the_parent(run) -> None:
    lines(run).fnmatch_lines(
        [
            "*_ TestGroup.test_parametrized[[]2[]] _*",
            "*- rank 1 -*",
            "E*AssertionError: value 2 fails on rank 1",
            "*- Captured stdout call ?rank 1? -*",
            "value 2 on rank 1",
        ]
    )
    assert "FAILED test_suite.py::TestGroup::test_parametrized[2] - [rank 1] Assert" in run.stdout


def test_a_crashed_rank_is_reported_with_its_test(run) -> None:
    # Which rank crashed is named when the launcher leaves the ranks' exit statuses to read.
    lines(run).fnmatch_lines(
        [
            "*_ test_segfault_on_rank_1 _*",
            "*- rank 0 -*",
            "MPI: rank 0 *",
            "*- rank 1 -*",
            "MPI: rank 1 * test_suite.py::test_segfault_on_rank_1 (call)*",
            "*- mpiexec -n 2 output -*",
            "*Fatal Python error: Segmentation fault*",
        ]
    )
    assert "test_after_the_crash" not in run.stdout.split("short test summary info")[1]


def test_a_rank_that_exits_is_reported_with_its_test(run) -> None:
    lines(run).fnmatch_lines(
        [
            "*_ test_rank_2_leaves _*",
            "*rank 2 * test_suite.py::test_rank_2_leaves (call)*",
            "*- mpiexec -n 3 output -*",
        ]
    )


LAUNCHED = """
import pytest


@pytest.mark.mpi(min_size=2)
def test_two_ranks():
    from mpi4py import MPI
    assert MPI.COMM_WORLD.size == 2
"""


def test_the_child_launcher_is_the_users_choice(tmp_path: Path) -> None:
    """--mpi-launcher (or ini mpi_launcher): e.g. `mpirun --oversubscribe` or `srun`."""
    (tmp_path / "test_launched.py").write_text(LAUNCHED)
    log = tmp_path / "launcher.log"
    wrapper = tmp_path / "my-launcher"
    mpiexec = Path(sys.executable).with_name("mpiexec")
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nshift\nexec {mpiexec} "$@"\n')
    wrapper.chmod(0o755)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)]
    done = session_zygote.run(
        [*command, f"--mpi-launcher={wrapper} --a-flag"], cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run in a child `{wrapper} --a-flag -n N`" in done.stdout
    assert log.read_text().startswith("--a-flag -n 2 ")  # the wrapper started the ranks
    (tmp_path / "pytest.ini").write_text("[pytest]\nmpi_launcher = no-such-launcher -x\n")
    bad = session_zygote.run(command, cwd=tmp_path, timeout=120)
    assert bad.returncode == 4  # a usage error
    assert "'no-such-launcher' is not a program on PATH" in bad.stderr


def test_one_rank_leaving_a_test_others_wait_in_is_reported_and_the_rest_runs(run) -> None:
    """Each deadlock ends its child run at once with a report; a new child runs the rest."""
    lines(run).fnmatch_lines(
        [
            "*_ test_fails_before_the_barrier _*",
            "*- rank 0 -*",
            "E*ValueError: rank 0 gives up",
            "*- rank 1 -*",
            "MPI deadlock: rank 1 waits in a collective in "
            "test_suite.py::test_fails_before_the_barrier (call), which rank 0 has already left:",
            "    p.parallel.barrier()",
            "*_ test_skips_before_the_broadcast _*",
            "*- rank 0 -*",
            "MPI deadlock: rank 0 waits in a collective in *test_skips_before_the_broadcast "
            "(call)*",
            "*- rank 1 -*",
            "MPI: rank 1 skipped (Skipped: nothing to send from rank 1) at * and left the test "
            "while rank 0 still ran it.",
            "*_ test_xfails_before_the_run _*",
            "*- rank 0 -*",
            "MPI: rank 0 xfailed (rank 0 expects this to break) and left the test while rank 1 "
            "still ran it.",
            "*- rank 1 -*",
            "MPI deadlock: rank 1 waits in a collective in *test_xfails_before_the_run (call)*",
            '*File "*test_suite.py", line * in test_xfails_before_the_run',
            "*_ test_rank_2_fails_before_the_barrier _*",
            "*- rank 2 -*",
            "E*ValueError: rank 2 gives up",
            "*- rank 0 -*",
            "MPI deadlock: rank 0 waits in a collective in *, which rank 2 has already left:",
            "*- rank 1 -*",
            "MPI deadlock: rank 1 waits in a collective in *, which rank 2 has already left:",
        ]
    )
    # --mpi-timeout was 150 s: none of the four deadlocks waited for it.
    assert "within 150 s" not in run.stdout


def test_the_default_launcher_is_that_of_the_mpi_mpi4py_loads(tmp_path: Path) -> None:
    """mpi4py made to load a libmpi in another prefix: the child runs start with the
    mpiexec of that prefix, not the one beside Python."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_patch.mpi.launcher import loaded_library as f; print(f().path)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    library = Path(found.stdout.strip())
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "bin").mkdir()
    shutil.copyfile(library, prefix / "lib" / library.name)
    for sibling in library.parent.iterdir():  # the libraries it loads from beside itself
        if sibling.is_dir() and not sibling.name.startswith("python"):
            (prefix / "lib" / sibling.name).symlink_to(sibling)
    log = tmp_path / "launcher.log"
    wrapper = prefix / "bin" / "mpiexec"
    real = Path(sys.executable).with_name("mpiexec")
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "test_launched.py").write_text(LAUNCHED)
    env = {**os.environ, "MPI4PY_LIBMPI": str(prefix / "lib" / library.name)}
    done = session_zygote.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-n 2 " in log.read_text()  # the prefix's launcher started the ranks


def test_a_launcher_of_another_mpi_is_refused_naming_both(tmp_path: Path) -> None:
    open_mpi = tmp_path / "openmpi" / "bin" / "mpiexec"
    open_mpi.parent.mkdir(parents=True)
    open_mpi.write_text("#!/bin/sh\necho 'mpiexec (OpenRTE) 4.1.4'\n")
    open_mpi.chmod(0o755)
    library = Library("MPICH Version: 4.3.0 MPICH Release date: ...", "/opt/mpich/lib/libmpi.so.12")
    with pytest.raises(LauncherError) as error:
        choose(library, [str(open_mpi)])
    assert str(error.value).startswith(
        f"mpi4py loads MPICH (/opt/mpich/lib/libmpi.so.12), but pytest-patch found only the "
        f"launcher(s) {open_mpi} (Open MPI): a launcher of another MPI cannot start MPICH's ranks."
    )
    assert choose(library, [str(open_mpi), str(Path(sys.executable).with_name("mpiexec"))])


RAN_ONCE = """
import os

import pytest


@pytest.mark.parametrize("serial", range(4))
def test_serial(serial):
    pass


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("case", range(6))
def test_on_two_ranks(case):
    from mpi4py import MPI

    with open(os.environ["RAN_LOG"], "a") as log:
        log.write(f"{case} {MPI.COMM_WORLD.rank}\\n")
"""


def test_under_xdist_each_test_runs_in_one_child_run_not_one_per_worker(tmp_path: Path) -> None:
    """A worker's child run holds the tests handed to that worker, not the whole batch (it
    used to: every worker ran every test of the batch). With --dist worksteal, a test
    another worker takes over after this worker's child run ran it runs again there."""
    (tmp_path / "test_once.py").write_text(RAN_ONCE)
    log = tmp_path / "ran.log"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2"]
    for dist in ("load", "loadfile", "worksteal"):
        log.write_text("")
        done = session_zygote.run(
            [*command, "--dist", dist],
            cwd=tmp_path,
            env={**os.environ, "RAN_LOG": str(log)},
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "10 passed" in done.stdout
        ran = sorted(log.read_text().splitlines())
        once = sorted(f"{case} {rank}" for case in range(6) for rank in (0, 1))
        if dist == "worksteal":
            assert sorted(set(ran)) == once and len(ran) < 2 * len(once), ran
        else:
            assert ran == once, dist
