"""Ctrl-C (SIGINT to the process group) stops the whole session, child runs included."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Slow (interrupted mpiexec runs): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

SUITE = """
import time
import pytest


def test_first(p):
    p.Section()


@pytest.mark.mpi(min_size=2)
def test_slow():
    time.sleep(60)


def test_after():
    pass
"""


def interrupt(command: list[str], cwd: Path) -> tuple[int, str, float]:
    """Start ``command`` in its own process group, Ctrl-C it once the slow test runs."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A shell's background job would start with SIGINT ignored: give it back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(8)
    os.killpg(process.pid, signal.SIGINT)
    start = time.monotonic()
    output, _ = process.communicate(timeout=90)
    return process.returncode, output, time.monotonic() - start


def leftovers(path: Path) -> str:
    found = subprocess.run(["pgrep", "-f", str(path)], capture_output=True, text=True)
    return found.stdout.strip()


@pytest.mark.parametrize("mode", ["child run", "mpiexec --with-mpi"])
def test_ctrl_c_stops_everything(tmp_path: Path, mode: str) -> None:
    (tmp_path / "test_slow.py").write_text(SUITE)
    pytest_command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", str(tmp_path)]
    if mode == "child run":
        command = pytest_command
    else:
        command = [MPIEXEC, "-n", "2", *pytest_command, "--with-mpi"]
    status, output, seconds = interrupt(command, tmp_path)
    assert status == 2, output  # pytest's "interrupted"
    assert "KeyboardInterrupt" in output
    assert "test_first PASSED" in output and "test_after" not in output  # the session stopped
    assert seconds < 30
    time.sleep(1)
    assert leftovers(tmp_path) == ""  # no orphan rank or mpiexec
