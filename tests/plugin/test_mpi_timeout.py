"""A hang on every rank is pytest-timeout's to end (it is in the test extras): its report,
not an internal error."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import session_zygote

# Slow (runs that wait for their timeout): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

SUITE = """
import time

import pytest


def rank():
    from mpi4py import MPI

    return MPI.COMM_WORLD.rank


@pytest.mark.mpi(min_size=2)
def test_hangs_on_every_rank():
    time.sleep(600)


@pytest.mark.mpi(min_size=2)
def test_hangs_on_rank_1():
    if rank() == 1:
        time.sleep(600)


@pytest.mark.mpi(min_size=2)
def test_after_the_hangs(p):
    assert p.parallel.broadcast(5 if rank() == 0 else None, root=0) == 5
"""

EXPECTED = [
    "*_ test_hangs_on_every_rank _*",
    "*- rank 0 -*",
    "E*Failed: Timeout (>4.0s) from pytest-timeout.",
    "*- rank 1 -*",
    "E*Failed: Timeout (>4.0s) from pytest-timeout.",
    "*_ test_hangs_on_rank_1 _*",
    "*- rank 1 -*",
    "E*Failed: Timeout (>4.0s) from pytest-timeout.",
    "*short test summary info*",
]


@pytest.mark.parametrize("mode", ["mpiexec --with-mpi", "child run"])
def test_a_per_test_timeout_ends_a_hang_with_its_own_report(tmp_path: Path, mode: str) -> None:
    """Every rank hangs, or one does while the other waits for it at the end of the test:
    pytest-timeout (signal method) fails the test, the session goes on. A child run is
    not itself timed: its tests are, one by one, in the child."""
    (tmp_path / "test_hangs.py").write_text(SUITE)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "--timeout=4"]
    if mode == "mpiexec --with-mpi":
        command = [MPIEXEC, "-n", "2", *command, "--with-mpi"]
    done = session_zygote.run([*command, "--mpi-timeout=120"], cwd=tmp_path, timeout=400)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    pytest.LineMatcher(done.stdout.splitlines()).fnmatch_lines(EXPECTED)
    assert "INTERNALERROR" not in output
    assert "MPI deadlock" not in output
    assert "2 failed, 1 passed" in done.stdout.splitlines()[-1]
