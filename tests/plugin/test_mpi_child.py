"""A serial ``pytest`` runs tests that need N ranks in a child ``mpiexec -n N``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One serial run of SUITE: two child runs, of 2 and 3 ranks."""
    path = tmp_path_factory.mktemp("children")
    (path / "test_suite.py").write_text(SUITE)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-ra"]
    return subprocess.run(
        [*command, "--mpi-timeout=20"], cwd=path, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


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
            "test_suite.py::test_after_the_crash ERROR*",
            "test_suite.py::test_rank_2_leaves FAILED*",
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
    lines(run).fnmatch_lines(
        [
            "*ERROR at setup of test_after_the_crash*",
            "MPI: not run: the child run `mpiexec -n 2 python -m pytest --with-mpi` ended early,"
            " during test_suite.py::test_segfault_on_rank_1*",
        ]
    )


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
    done = subprocess.run(
        [*command, f"--mpi-launcher={wrapper} --a-flag"], capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run in a child `{wrapper} --a-flag -n N`" in done.stdout
    assert log.read_text().startswith("--a-flag -n 2 ")  # the wrapper started the ranks
    (tmp_path / "pytest.ini").write_text("[pytest]\nmpi_launcher = no-such-launcher -x\n")
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 4  # a usage error
    assert "'no-such-launcher' is not a program on PATH" in bad.stderr
