"""Collectives between ranks that give up after a timeout instead of hanging."""

from __future__ import annotations

import array
import fcntl
import os
import stat
import sys
import termios
import time
from collections.abc import Callable
from os import _exit  # the real one: Patch's own ends are not a test's os._exit
from typing import Any, NoReturn

import pytest

# Poll a pending request without sleeping for this long, then back off up to the cap.
_SPIN_SECONDS = 0.002
_MAX_SLEEP = 0.01


def wait(request: Any, timeout: float, give_up: Callable[[float], bool] | None = None) -> bool:
    """Poll an MPI request until it completes (``True``) or ``timeout`` seconds pass.

    ``give_up(waited)``, when given, is asked between polls whether to stop early (it
    decides itself how often to do any real work).
    """
    start = time.monotonic()
    spin_until = start + _SPIN_SECONDS
    deadline = start + timeout
    pause = 0.0001
    while not request.Test():
        now = time.monotonic()
        if now >= deadline or (give_up is not None and give_up(now - start)):
            return False
        if now >= spin_until:
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _MAX_SLEEP)
    return True


class Exchange:
    """Gathers values from every rank over a private copy of ``COMM_WORLD``.

    Each exchange first waits on a non-blocking barrier; when a rank has not arrived
    after ``timeout`` seconds, it returns ``None`` instead of blocking, so a rank stuck
    in a test's own collective cannot hang the others. After such a timeout the
    communicator must not be used again.
    """

    def __init__(self, comm: Any, timeout: float) -> None:
        self.world = comm
        self.comm = comm.Dup()
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout

    def meet(self, give_up: Callable[[float], bool] | None = None) -> bool:
        """Wait until every rank has arrived (``True``), or the timeout, or ``give_up``.

        A per-test timeout raised into the wait (pytest-timeout's signal method) must not
        leave this rank out of the barrier the others are in: the wait goes on, and the
        ranks still in the test time out there and report it.
        """
        request = self.comm.Ibarrier()
        while True:
            try:
                return wait(request, self.timeout, give_up)
            except pytest.fail.Exception:
                continue

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` in rank order; call after :meth:`meet` succeeded."""
        return self.comm.allgather(value)

    def allgather(self, value: Any) -> list[Any] | None:
        """Every rank's ``value`` in rank order, or ``None`` if a rank did not arrive in time."""
        if not self.meet():
            return None
        return self.gather(value)

    def abort(self, status: int) -> NoReturn:
        """End every rank of the world at once, with ``status`` as the exit status.

        The abort is of ``COMM_WORLD`` itself, not of this exchange's copy: only then do
        MPICH's and Intel MPI's ``mpiexec`` end with the abort's status as such (an abort
        of another communicator ends its ranks one by one, and ``mpiexec`` then reports
        the status of whichever it saw end, 9 and its "BAD TERMINATION" banner when that
        was a rank it killed). What this rank printed has left its pipes before the
        abort, which the launcher would otherwise act on first; the MPI library's own
        line about the abort is left out: Patch's report is the last thing the run says.
        """
        sys.stdout.flush()
        sys.stderr.flush()
        _drain((1, 2))
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        mpi = sys.modules["mpi4py.MPI"]
        mpi.Comm.Abort(self.world, status)  # mpi4py's own, not an override's
        _exit(status)


#: How long :func:`_drain` waits for the launcher to read what this rank printed.
_DRAIN_SECONDS = 5.0


def _drain(fds: tuple[int, ...]) -> None:
    """Wait until the launcher has read what this rank wrote to ``fds`` that are pipes."""
    deadline = time.monotonic() + _DRAIN_SECONDS
    unread = array.array("i", [0])
    for fd in fds:
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                continue
            while time.monotonic() < deadline:
                fcntl.ioctl(fd, termios.FIONREAD, unread)
                if unread[0] == 0:
                    break
                time.sleep(0.005)
        except OSError:
            continue


#: How long a rank that called MPI_Abort waits for the launcher to end it.
ABORT_WAIT_SECONDS = 30.0


def abort_and_wait(comm: Any, status: int) -> NoReturn:
    """``comm.Abort(status)``, and never return.

    MPI_Abort may return before the launcher has ended the ranks (MPICH's does): a rank
    that went on would run more tests, or exit by itself first, and the launcher would
    then report a rank killed by a signal instead of the abort's status. So this rank
    waits to be ended, and ends itself with ``status`` if that does not come.
    """
    comm.Abort(status)
    time.sleep(ABORT_WAIT_SECONDS)
    _exit(status)
