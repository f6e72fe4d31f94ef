"""Deadlock diagnosis: which ranks never arrived, and where their Python stacks are stuck.

Each rank registers a :mod:`faulthandler` handler for ``SIGUSR1`` that writes all its
threads' stacks to its stack file. It runs in C, so it works even while the rank sits
inside a blocking MPI call. A rank that waits for the others at the end of a test phase
signals the missing ranks that run on its host and reads what they wrote: a rank whose
main thread stays inside a collective (a barrier, a broadcast, a parallel run) while
another rank has left the test can never return, so the run ends at once with a report
instead of at ``--mpi-timeout``. Whether a stack is inside a collective, and what the
report says of each rank, is decided in :mod:`.faults`.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from pathlib import Path
from typing import IO, Any

from . import faults
from .faults import Frame
from .ranklog import log_path, read_events, read_stack, stack_path

_STACK_WAIT_SECONDS = 3.0
#: How long a rank that finished a test phase waits before asking the missing ranks
#: where they are, and the longest pause between two such questions.
GRACE_SECONDS = 1.0
_MAX_PROBE_INTERVAL = 10.0
#: Between the two looks that must agree before a rank counts as stuck.
_CONFIRM_SECONDS = 0.5


def arm_stack_dump(root: Path, rank: int) -> IO[Any] | None:
    """Dump this rank's stacks to its stack file on ``SIGUSR1``; returns the open file.

    The file is opened for appending, so that whoever asks can empty it first and read
    one fresh dump.
    """
    if not hasattr(signal, "SIGUSR1"):
        return None
    file = open(stack_path(root, rank), "a")
    faulthandler.register(signal.SIGUSR1, file=file, all_threads=True, chain=False)
    return file


def disarm_stack_dump(file: IO[Any] | None) -> None:
    if file is not None:
        faulthandler.unregister(signal.SIGUSR1)
        file.close()


def result(root: Path, rank: int, nodeid: str, when: str) -> dict[str, Any] | None:
    """The event in which ``rank`` logged its result for this test phase, if it has."""
    for event in reversed(read_events(log_path(root, rank), tail=True)[-8:]):
        if event.get("event") == "report" and event.get("nodeid") == nodeid:
            return event if event.get("when") == when else None
    return None


def missing_ranks(root: Path, size: int, nodeid: str, when: str) -> list[int]:
    """The ranks that have not logged a result for this test phase."""
    return [rank for rank in range(size) if result(root, rank, nodeid, when) is None]


def collect_stacks(
    root: Path, ranks: list[int], peers: list[tuple[int, str]], host: str
) -> dict[int, str]:
    """Ask the ``ranks`` on this host to dump their stacks, and read what they wrote."""
    asked = []
    for rank in ranks:
        pid, rank_host = peers[rank]
        if rank_host != host:
            continue
        try:
            os.truncate(stack_path(root, rank), 0)
            os.kill(pid, signal.SIGUSR1)
        except (OSError, AttributeError):
            continue
        asked.append(rank)
    # faulthandler writes a dump in many small writes: a stack is complete once two
    # reads in a row agree.
    stacks: dict[int, str] = {}
    deadline = time.monotonic() + _STACK_WAIT_SECONDS
    while asked and time.monotonic() < deadline:
        time.sleep(0.05)
        for rank in list(asked):
            text = read_stack(root, rank)
            if text and text == stacks.get(rank):
                asked.remove(rank)
            stacks[rank] = text
    return {rank: text for rank, text in stacks.items() if text}


class StuckRanks:
    """Asked while this rank waits for the others at the end of a test phase: are the
    missing ranks blocked in a collective, which the ranks that left can never join?

    The lowest rank that has arrived asks (the others only wait for the verdict). It asks
    after :data:`GRACE_SECONDS`, then less and less often; a rank counts as stuck when two
    looks :data:`_CONFIRM_SECONDS` apart find its main thread at the same collective
    call. Ranks on other hosts cannot be asked: then only ``--mpi-timeout`` ends the wait.
    """

    def __init__(
        self,
        root: Path,
        rank: int,
        peers: list[tuple[int, str]],
        threads: list[int],
        host: str,
        nodeid: str,
        when: str,
    ) -> None:
        self.root = root
        self.rank = rank
        self.peers = peers
        self.threads = threads
        self.host = host
        self.nodeid = nodeid
        self.when = when
        self._next = GRACE_SECONDS
        self._seen: dict[int, list[Frame]] = {}
        #: Once stuck: each missing rank's dumped stack and the call it waits in.
        self.stacks: dict[int, str] = {}
        self.calls: dict[int, str] = {}

    def __call__(self, waited: float) -> bool:
        """Whether to stop waiting: every missing rank is blocked in a collective."""
        if waited < self._next:
            return False
        self._next = waited + min(max(waited / 5, GRACE_SECONDS), _MAX_PROBE_INTERVAL)
        size = len(self.peers)
        missing = [r for r in missing_ranks(self.root, size, self.nodeid, self.when)]
        missing = [r for r in missing if r != self.rank]
        present = [r for r in range(size) if r not in missing]
        if not missing or min(present) != self.rank:
            return False
        if any(self.peers[r][1] != self.host for r in missing):
            return False
        stacks = collect_stacks(self.root, missing, self.peers, self.host)
        stacks = {r: stacks.get(r, "") for r in missing}
        frames, calls = faults.stuck_calls(stacks, self.threads)
        if calls is None:
            self._seen = {}
            return False
        if any(self._seen.get(r) != frames[r] for r in missing):
            self._seen = frames
            self._next = waited + _CONFIRM_SECONDS
            return False
        self.stacks = stacks
        self.calls = calls
        return True
