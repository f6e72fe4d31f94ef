"""Every MPI fault Patch detects, decided in one place.

Each detector takes what was gathered from the ranks and says what it found:

* at the end of each test phase, from what every rank sent (:class:`PhaseEnd`), the
  detectors of :data:`AT_PHASE_END` return a :class:`Finding`: notes per rank, and
  whether the session brings the ranks back in step or stops the run. A new one is a
  function here and its entry in that tuple;
* when ranks did not arrive, from their stacks: :func:`never_arrived`, :func:`blocked`;
* when a run ended early, from the ranks' event files, how the watcher saw each end and
  the launcher's output: :func:`ended_the_run` (who ended it) and the notes of
  :func:`called_abort` and :func:`gave_no_result`.

The session (:mod:`.session`), the child runs (:mod:`.child`) and the watcher of the
ranks (:mod:`.monitor`) only gather and combine; the mechanics of waiting, dumping stacks
and watching processes stay in :mod:`.exchange`, :mod:`.watchdog` and :mod:`.monitor`.

This module imports only the standard library: the watcher runs it as a plain script.
"""

from __future__ import annotations

import linecache
import os
import re
from collections.abc import Callable
from typing import Any, NamedTuple

#: How a rank that mpiexec ended after another rank died is described.
KILLED_BY_LAUNCHER = "killed by SIGKILL"
# How a rank that ended normally (or called exit(0)) is described.
_FINISHED = "exited with status 0"

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
_FOLLOWING = {"": "setup", "setup": "call", "call": "teardown"}
# How MPICH (and Intel MPI) and Open MPI name a rank that called MPI_Abort.
_LAUNCHER_ABORT = re.compile(
    r"MPI_Abort\([^)]*\) - process (\d+)|MPI_ABORT was invoked on rank (\d+)"
)

Frame = tuple[str, int, str]
Notes = dict[int, str]


# -- at the end of a test phase, from what every rank sent ------------------------------
class PhaseEnd(NamedTuple):
    """What a rank sends the others at the end of each test phase."""

    #: ``[nodeid, when]`` of the phase it ended.
    label: list[str]
    outcome: str
    #: Its report, serialized (``None`` for a plain pass).
    data: Any
    #: How many of Patch's collectives it entered in the test (at the teardown, else None).
    entered: int | None


class Finding(NamedTuple):
    """What a detector found at the end of a test phase: its notes per rank (empty when
    nothing is wrong) and what the session does next."""

    notes: Notes
    #: Bring the ranks back in step (``p.parallel.resynchronize()``) and go on.
    resynchronize: bool = False
    #: End the run, for this reason: the ranks no longer run the same test (the reports
    #: of the ranks with notes are not combined).
    stop: str | None = None


def out_of_step(phases: list[PhaseEnd], rank: int) -> Finding:
    """Ranks that ended another test phase than this rank."""
    mine = phases[rank].label
    notes = {
        other: (
            f"MPI: rank {other} was at {phase.label[0]} ({phase.label[1]}) while "
            f"rank {rank} was at {mine[0]} ({mine[1]}): ranks out of step."
        )
        for other, phase in enumerate(phases)
        if phase.label != mine
    }
    return Finding(notes, stop="MPI ranks ran out of step" if notes else None)


def unbalanced(phases: list[PhaseEnd], rank: int) -> Finding:
    """A note for the rank that entered the fewest of Patch's collectives in a test, when
    the ranks entered different numbers; the session then brings the ranks back in step
    (every rank finds the same)."""
    counts = [phase.entered for phase in phases if phase.entered is not None]
    if len(counts) != len(phases) or len(set(counts)) <= 1:
        return Finding({})
    fewest = min(range(len(counts)), key=counts.__getitem__)
    listed = ", ".join(f"rank {rank}: {count}" for rank, count in enumerate(counts))
    note = (
        "MPI: the ranks entered different numbers of Patch's collectives in this test "
        f"({listed}; broadcasts, allgathers, and those p.run makes): a rank left the test "
        "before a collective that the others completed. Patch brought the ranks back in step "
        "(p.parallel.resynchronize()), so no message of this test reaches the next one."
    )
    return Finding({fewest: note}, resynchronize=True)


#: The detectors of what every rank sent at the end of a test phase, in order: the first
#: that finds something decides.
AT_PHASE_END: tuple[Callable[[list[PhaseEnd], int], Finding], ...] = (out_of_step, unbalanced)


def at_phase_end(phases: list[PhaseEnd], rank: int) -> Finding:
    """What the detectors of :data:`AT_PHASE_END` find, seen from ``rank``."""
    for detector in AT_PHASE_END:
        found = detector(phases, rank)
        if found.notes:
            return found
    return Finding({})


# -- a rank that did not arrive ---------------------------------------------------------
def never_arrived(
    missing: list[int],
    nodeid: str,
    when: str,
    timeout: float,
    stacks: dict[int, str],
    hosts: list[str],
) -> Notes:
    """Ranks that gave no result for a test phase within ``--mpi-timeout``."""
    return {
        rank: describe_missing(rank, nodeid, when, timeout, stacks.get(rank, ""), hosts[rank])
        for rank in missing
    }


def blocked(
    ranks: dict[int, Any],
    missing: list[int],
    calls: dict[int, str],
    stacks: dict[int, str],
    threads: list[int],
    nodeid: str,
    when: str,
) -> Notes:
    """Ranks that wait in a collective that the others (``ranks``: their results) left,
    and how those that skipped or xfailed left it."""
    left = [rank for rank in range(len(threads)) if rank not in missing]
    notes = departures(ranks, missing)
    for rank in missing:
        notes[rank] = describe_blocked(
            rank, nodeid, when, calls[rank], left, stacks[rank], threads[rank]
        )
    return notes


def departures(ranks: dict[int, Any], waiting: list[int]) -> Notes:
    """Notes on how the ranks that skipped or xfailed left a test phase in which the
    ``waiting`` ranks got stuck: a deadlock fails the test, and would otherwise hide why
    they left (a failing rank's traceback is shown anyway)."""
    others = rank_label(waiting)
    notes = {}
    for rank, detail in sorted(ranks.items()):
        wasxfail = getattr(detail, "wasxfail", None)
        body = getattr(detail, "longrepr", None)
        if getattr(detail, "outcome", detail) != "skipped":
            continue
        if wasxfail is not None:
            how = f"xfailed ({wasxfail})" if wasxfail else "xfailed"
        elif isinstance(body, (tuple, list)) and len(body) == 3:
            how = f"skipped ({body[2]}) at {body[0]}:{body[1]}"
        else:
            how = "skipped"
        notes[rank] = f"MPI: rank {rank} {how} and left the test while {others} still ran it."
    return notes


def stuck_calls(
    stacks: dict[int, str], threads: list[int]
) -> tuple[dict[int, list[Frame]], dict[int, str] | None]:
    """Each rank's main-thread frames in its dumped stack, and the collective call each
    waits in, or ``None`` when one of them is not inside a collective."""
    frames = {rank: main_thread(stack, threads[rank]) for rank, stack in stacks.items()}
    calls = {rank: collective_call(rank_frames) for rank, rank_frames in frames.items()}
    if any(call is None for call in calls.values()):
        return frames, None
    return frames, {rank: call for rank, call in calls.items() if call is not None}


def collective_call(frames: list[Frame]) -> str | None:
    """The source line of the innermost frame when it calls a collective, else ``None``."""
    if not frames:
        return None
    path, lineno, _ = frames[0]
    line = linecache.getline(path, lineno).strip()
    if _MPI4PY in path or _COLLECTIVE.search(line):
        return line or f"{path}:{lineno}"
    return None


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
    rank: int,
    nodeid: str,
    when: str,
    call: str,
    left: list[int],
    stack: str,
    thread: int | None = None,
) -> str:
    """Why ``rank`` will never finish this test phase: it waits in a collective that the
    ``left`` ranks, done with the phase, will not join."""
    who = f"rank {left[0]} has" if len(left) == 1 else f"ranks {', '.join(map(str, left))} have"
    return (
        f"MPI deadlock: rank {rank} waits in a collective in {nodeid} ({when}), which {who} "
        f"already left:\n    {call}\ncan only return once every rank takes part. "
        f"Python stack of rank {rank}:\n{trim(stack, thread)}"
    )


# -- a run that ended early, from the ranks' event files and how they ended -------------
def phase_after(events: list[dict[str, Any]], nodeid: str) -> str | None:
    """The phase of test ``nodeid`` that a rank was in after ``events`` (its events up to
    then): the one after its last reported phase, ``None`` after the teardown."""
    phases = [e["when"] for e in events if e.get("event") == "report" and e["nodeid"] == nodeid]
    return _FOLLOWING.get(phases[-1] if phases else "")


def aborted(
    events: dict[int, list[dict[str, Any]]], output: str = ""
) -> tuple[int, str, str] | None:
    """The first rank that called MPI_Abort, the test and its phase: from its event file
    (``MPI.COMM_WORLD.Abort`` records it), else from the launcher's message in ``output``
    and the test the rank was in last (the call, then)."""
    for rank, rank_events in sorted(events.items()):
        for index, event in enumerate(rank_events):
            if event.get("event") == "abort":
                nodeid = event.get("nodeid") or ""
                return rank, nodeid, phase_after(rank_events[:index], nodeid) or "teardown"
    abort = _LAUNCHER_ABORT.search(output)
    if not abort:
        return None
    rank = int(abort.group(1) or abort.group(2))
    tests = [e["nodeid"] for e in events.get(rank, []) if e.get("event") == "test"]
    return (rank, tests[-1], "call") if tests else None


def ended_the_run(
    events: dict[int, list[dict[str, Any]]],
    ended: dict[int, str],
    size: int,
    output: str = "",
    seen: int | None = None,
) -> tuple[int, str] | None:
    """The rank that ended a run early, and how: the one that called MPI_Abort, else the
    one the launcher did not kill (:func:`culprit`), else the one ``seen`` ending before
    the others, else the one that called ``os._exit``."""
    abort = aborted(events, output)
    if abort is not None:
        return abort[0], "called MPI_Abort"
    first = culprit(ended, size)
    if first is None and seen is not None:
        first = (seen, ended.get(seen, "ended before the others"))
    return first or exited(events)


def exited(events: dict[int, list[dict[str, Any]]]) -> tuple[int, str] | None:
    """The one rank that ended itself with ``os._exit`` before finishing, and how."""
    found = [
        (rank, f"called os._exit({event.get('status')})")
        for rank, rank_events in sorted(events.items())
        if not any(e.get("event") == "finish" for e in rank_events)
        for event in rank_events
        if event.get("event") == "exit"
    ]
    return found[0] if len(found) == 1 else None


def culprit(ended: dict[int, str], size: int) -> tuple[int, str] | None:
    """The one rank that ended the run, from how each ended (see ``monitor.py``).

    ``mpiexec`` SIGKILLs the other ranks once one dies and reaps the dying one at once,
    so the culprit is the only rank not killed by SIGKILL, even when its own status
    was gone before anyone could read it; or, when some statuses are gone, the only rank
    known to have ended otherwise.
    """
    others = [rank for rank in range(size) if ended.get(rank) != KILLED_BY_LAUNCHER]
    if len(ended) == 0 or not others:
        return None
    if len(others) == 1:
        return others[0], ended.get(others[0], "ended first, before mpiexec killed the others")
    # The launcher reaps killed ranks quickly too, so some statuses may be gone: when only
    # one rank is known to have ended on its own (and not by finishing), the others
    # (killed, or unknown) did not end the run: had one of them ended first, the launcher
    # would have killed this one.
    own = [rank for rank in others if ended.get(rank, _FINISHED) != _FINISHED]
    return (own[0], ended[own[0]]) if len(own) == 1 else None


def called_abort(rank: int, nodeid: str, phase: str, size: int, status: int) -> Notes:
    """The note of a child run's test phase in which ``rank`` called MPI_Abort."""
    return {
        rank: (
            f"MPI: rank {rank} called MPI_Abort in {nodeid} ({phase}), which ends the run: "
            f"mpiexec -n {size} ended every rank (exit status {status}). "
            "The run's output is below."
        )
    }


def gave_no_result(
    rank: int,
    nodeid: str,
    when: str,
    finished: bool,
    first: tuple[int, str] | None,
    size: int,
    status: int,
) -> str:
    """Why ``rank`` of a child run has no result for a test phase that no deadlock
    explains: it finished the session without it, it died (``first``: the rank that ended
    the run and how), or mpiexec ended it."""
    if finished:
        return f"MPI: rank {rank} gave no result for {nodeid} ({when})."
    if first is None:
        return (
            f"MPI: rank {rank} gave no result for {nodeid} ({when}): a rank died or left "
            f"(crash, os._exit, MPI_Abort) and mpiexec -n {size} ended the run with "
            f"exit status {status}. Its output is below."
        )
    if first[0] == rank:
        return (
            f"MPI: rank {rank} died in {nodeid} ({when}): it {first[1]}. The run's output is below."
        )
    return f"MPI: rank {rank} was ended by mpiexec after rank {first[0]} died."


def rank_label(ranks: list[int]) -> str:
    """``rank 1``, or ``ranks 0, 2`` for several."""
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {', '.join(map(str, ranks))}"
