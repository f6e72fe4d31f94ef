"""Deadlock diagnosis: which ranks never arrived, and where their Python stacks are stuck.

Each rank registers a :mod:`faulthandler` handler for ``SIGUSR1`` that writes all its
threads' stacks to its stack file. It runs in C, so it works even while the rank sits
inside a blocking MPI call. A rank that waits for the others at the end of a test phase
signals the missing ranks that run on its host and reads what they wrote: a rank whose
main thread stays inside a collective (a barrier, a broadcast, a parallel run) while
another rank has left the test can never return, so the run ends at once with a report
instead of at ``--mpi-timeout``.
"""

from __future__ import annotations

import faulthandler
import linecache
import os
import re
import signal
import time
from pathlib import Path
from typing import IO, Any

from .ranklog import log_path, read_events, read_stack, stack_path

_STACK_WAIT_SECONDS = 3.0
#: How long a rank that finished a test phase waits before asking the missing ranks
#: where they are, and the longest pause between two such questions.
GRACE_SECONDS = 1.0
_MAX_PROBE_INTERVAL = 10.0
#: Between the two looks that must agree before a rank counts as stuck.
_CONFIRM_SECONDS = 0.5

# A call that only returns once every rank of a communicator takes part: mpi4py's
# collectives and waits, NEURON's ParallelContext collectives and ``psolve`` (which
# ``p.run`` uses on more than one rank), and Patch's (``p.parallel.broadcast``, ...). A
# raw ``h.run()`` may be a long serial simulation, so it does not count. Generic names
# (``gather``, ``reduce``, ...) count as method calls only.
_COLLECTIVE = re.compile(
    r"\b(?:[Bb]arrier|I?[Bb]cast|broadcast|[Aa]llgatherv?|[Aa]llreduce|[Aa]lltoallv?|"
    r"Gatherv?|Scatterv?|Reduce|Sendrecv|Recv|Probe|Wait(?:all|any)?|"
    r"py_(?:alltoall|allgather|gather|broadcast|scatter)|psolve|set_maxstep|setup_transfer)"
    r"(?:\s*\(|[\"'])"
    r"|\.(?:gather|scatter|reduce|sendrecv|recv|probe)\s*\("
)
_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-fA-F]+)")
_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')
_MPI4PY = f"{os.sep}mpi4py{os.sep}"

Frame = tuple[str, int, str]


def arm_stack_dump(root: Path, rank: int) -> IO[Any] | None:
    """Dump this rank's stacks to its stack file on ``SIGUSR1``; returns the open file.

    The file is opened for appending, so that whoever asks can empty it first and read
    one fresh dump.
    """
    if not hasattr(signal, "SIGUSR1"):
        return None
    file = open(stack_path(root, rank), "a")  # noqa: SIM115 - lives as long as the session
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


def main_thread(stack: str, thread: int | None) -> list[Frame]:
    """The frames (innermost first) of the thread ``thread`` in a faulthandler dump;
    without it, of the thread listed last (the oldest one, normally the main thread)."""
    threads: list[tuple[int, list[Frame]]] = []
    for line in stack.splitlines():
        if match := _THREAD.match(line):
            threads.append((int(match.group(1), 16), []))
        elif (match := _FRAME.match(line)) and threads:
            threads[-1][1].append((match.group(1), int(match.group(2)), match.group(3)))
    for ident, frames in threads:
        if ident == thread:
            return frames
    return threads[-1][1] if threads else []


def collective_call(frames: list[Frame]) -> str | None:
    """The source line of the innermost frame when it calls a collective, else ``None``."""
    if not frames:
        return None
    path, lineno, _ = frames[0]
    line = linecache.getline(path, lineno).strip()
    if _MPI4PY in path or _COLLECTIVE.search(line):
        return line or f"{path}:{lineno}"
    return None


class StuckRanks:
    """Asked while this rank waits for the others at the end of a test phase: are the
    missing ranks blocked in a collective, which the ranks that left can never join?

    The lowest rank that has arrived asks (the others only wait for the verdict). It asks
    after :data:`GRACE_SECONDS`, then less and less often; a rank counts as stuck when two
    looks :data:`_CONFIRM_SECONDS` apart find its main thread at the same collective
    call. Ranks on other hosts cannot be asked: then only ``--mpi-timeout`` ends the wait.
    """

    def __init__(
        self, root: Path, rank: int, peers: list[tuple[int, str]], threads: list[int],
        host: str, nodeid: str, when: str,
    ) -> None:  # fmt: skip
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
        frames = {r: main_thread(stacks.get(r, ""), self.threads[r]) for r in missing}
        calls = {r: collective_call(frames[r]) for r in missing}
        if any(call is None for call in calls.values()):
            self._seen = {}
            return False
        if any(self._seen.get(r) != frames[r] for r in missing):
            self._seen = frames
            self._next = waited + _CONFIRM_SECONDS
            return False
        self.stacks = stacks
        self.calls = {r: call for r, call in calls.items() if call is not None}
        return True


def trim(stack: str, thread: int | None = None) -> str:
    """A dumped stack down to one thread's frames above pytest's own machinery.

    With ``thread`` (the main thread's id) only that thread is shown, innermost first.
    """
    if thread is not None:
        frames = main_thread(stack, thread)
        if frames:
            stack = "\n".join(
                f'  File "{path}", line {lineno} in {name}' for path, lineno, name in frames
            )
    kept = []
    for line in stack.splitlines():
        if "/_pytest/" in line or "/pluggy/" in line:
            kept.append("  ... (pytest's frames)")
            break
        kept.append(line)
    return "\n".join(kept)


def describe_missing(
    rank: int, nodeid: str, when: str, timeout: float, stack: str, host: str | None = None
) -> str:
    """Why ``rank`` has no result for this test phase, with its stack when we have it."""
    text = (
        f"MPI deadlock: rank {rank} did not finish {nodeid} ({when}) within {timeout:g} s "
        "of another rank finishing it."
    )
    if stack:
        return f"{text}\nPython stack of rank {rank} at the timeout:\n{trim(stack)}"
    where = f" (it runs on host {host})" if host else ""
    return f"{text}\nIts stack could not be dumped{where}."


def describe_blocked(
    rank: int, nodeid: str, when: str, call: str, left: list[int], stack: str,
    thread: int | None = None,
) -> str:  # fmt: skip
    """Why ``rank`` will never finish this test phase: it waits in a collective that the
    ``left`` ranks, done with the phase, will not join."""
    who = f"rank {left[0]} has" if len(left) == 1 else f"ranks {', '.join(map(str, left))} have"
    return (
        f"MPI deadlock: rank {rank} waits in a collective in {nodeid} ({when}), which {who} "
        f"already left:\n    {call}\ncan only return once every rank takes part. "
        f"Python stack of rank {rank}:\n{trim(stack, thread)}"
    )
