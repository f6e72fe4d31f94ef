"""Deadlock diagnosis: which ranks never arrived, and where their Python stacks are stuck.

Each rank registers a :mod:`faulthandler` handler for ``SIGUSR1`` that writes all its
threads' stacks to its stack file. It runs in C, so it works even while the rank sits
inside a blocking MPI call. The rank that notices the deadlock signals the missing ranks
that run on its host and reads what they wrote.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from pathlib import Path
from typing import IO, Any

from .ranklog import log_path, read_events, read_stack, stack_path

_STACK_WAIT_SECONDS = 3.0


def arm_stack_dump(root: Path, rank: int) -> IO[Any] | None:
    """Dump this rank's stacks to its stack file on ``SIGUSR1``; returns the open file."""
    if not hasattr(signal, "SIGUSR1"):
        return None
    file = open(stack_path(root, rank), "w")  # noqa: SIM115 - lives as long as the session
    faulthandler.register(signal.SIGUSR1, file=file, all_threads=True, chain=False)
    return file


def disarm_stack_dump(file: IO[Any] | None) -> None:
    if file is not None:
        faulthandler.unregister(signal.SIGUSR1)
        file.close()


def arrived(root: Path, rank: int, nodeid: str, when: str) -> bool:
    """Whether ``rank`` has logged its result for this test phase."""
    for event in reversed(read_events(log_path(root, rank), tail=True)[-8:]):
        if event.get("event") == "report" and event.get("nodeid") == nodeid:
            return event.get("when") == when
    return False


def missing_ranks(root: Path, size: int, nodeid: str, when: str) -> list[int]:
    """The ranks that have not logged a result for this test phase."""
    return [rank for rank in range(size) if not arrived(root, rank, nodeid, when)]


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
            os.kill(pid, signal.SIGUSR1)
        except (OSError, AttributeError):
            continue
        asked.append(rank)
    # faulthandler writes a dump in many small writes: a stack is complete once two
    # reads in a row agree.
    stacks: dict[int, str] = {}
    deadline = time.monotonic() + _STACK_WAIT_SECONDS
    while asked and time.monotonic() < deadline:
        time.sleep(0.1)
        for rank in list(asked):
            text = read_stack(root, rank)
            if text and text == stacks.get(rank):
                asked.remove(rank)
            stacks[rank] = text
    return {rank: text for rank, text in stacks.items() if text}


def _trim(stack: str) -> str:
    """A dumped stack down to the frames above pytest's own machinery."""
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
        return f"{text}\nPython stack of rank {rank} at the timeout:\n{_trim(stack)}"
    where = f" (it runs on host {host})" if host else ""
    return f"{text}\nIts stack could not be dumped{where}."
