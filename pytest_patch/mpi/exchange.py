"""Collectives between ranks that give up after a timeout instead of hanging."""

from __future__ import annotations

import time
from typing import Any

# Poll a pending request without sleeping for this long, then back off up to the cap.
_SPIN_SECONDS = 0.002
_MAX_SLEEP = 0.01


def wait(request: Any, timeout: float) -> bool:
    """Poll an MPI request until it completes (``True``) or ``timeout`` seconds pass."""
    start = time.monotonic()
    spin_until = start + _SPIN_SECONDS
    deadline = start + timeout
    pause = 0.0001
    while not request.Test():
        now = time.monotonic()
        if now >= deadline:
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
        self.comm = comm.Dup()
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout

    def allgather(self, value: Any) -> list[Any] | None:
        """Every rank's ``value`` in rank order, or ``None`` if a rank did not arrive in time."""
        if not wait(self.comm.Ibarrier(), self.timeout):
            return None
        return self.comm.allgather(value)

    def abort(self, status: int) -> None:
        """End every rank of the world at once, with ``status`` as the exit status."""
        self.comm.Abort(status)
