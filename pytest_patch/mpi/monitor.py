"""A watcher outside the MPI job that reports ranks that died, from their event files.

When one rank dies, the MPI launcher kills the others at once, so no rank can say what
happened. Rank 0 starts this script in its own session; it holds rank 0's standard
output (the launcher forwards it until every holder has closed it), waits until the
ranks on this host are gone, and prints which ranks ended without finishing and the
test each was in. Then it removes the shared-memory files of the run that killed ranks
leave behind (MPICH's). It runs as a plain script, importing nothing beyond the standard
library and its siblings ``ranklog.py``, ``faults.py`` (which rank died first, which
called MPI_Abort) and ``shm.py``, so that it starts fast.

    python monitor.py [--launcher=PID:FD] [--shared=FILE:FILE...] ROOT PID0 PID1 ...
    (a PID of 0: that rank runs on another host)
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

if __package__:
    from .faults import aborted, ended_the_run, phase_after
    from .ranklog import ended_path, log_path, read_events
    from .shm import is_segment, remove, segments
else:  # run as a script
    from faults import (  # type: ignore[no-redef,import-not-found]
        aborted,
        ended_the_run,
        phase_after,
    )
    from ranklog import ended_path, log_path, read_events  # type: ignore[no-redef,import-not-found]
    from shm import is_segment, remove, segments  # type: ignore[no-redef,import-not-found]

_POLL_SECONDS = 0.05
#: How long the report waits for the launcher to end, so that it comes last.
_LAUNCHER_WAIT_SECONDS = 30.0
# How many of the tests that did not run the report names one by one.
_NOT_RUN_SHOWN = 20
# Launchers whose standard output is the user's (their ranks' goes through a proxy).
_LAUNCHERS = ("mpiexec", "mpirun", "orterun", "prterun", "prun")


def status(pid: int) -> tuple[bool, str | None]:
    """Whether ``pid`` still runs, and how it ended when it is a zombie not yet reaped.

    Zombies count as ended: the launcher reaps its ranks only once this watcher lets go
    of the output, and until then the kernel keeps the exit status in ``/proc``.
    """
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return False, None
    if fields[0] not in ("Z", "X"):
        return True, None
    if len(fields) < 50:
        return False, None
    code = os.waitstatus_to_exitcode(int(fields[49]))
    if code < 0:
        return False, f"killed by {signal.Signals(-code).name}"
    return False, f"exited with status {code}"


def where(events: list[dict[str, Any]]) -> str:
    """The test and phase a rank's events end in."""
    test = next((e["nodeid"] for e in reversed(events) if e.get("event") == "test"), None)
    if test is None:
        return "before its first test (during start-up or collection)"
    phase = phase_after(events, test)
    return f"in {test} ({phase})" if phase else f"after {test}"


def not_run(events: dict[int, list[dict[str, Any]]]) -> list[str]:
    """The collected tests that no rank started."""
    collected: list[str] = next(
        (e["nodeids"] for e in events.get(0, []) if e.get("event") == "collected"), []
    )
    started = {
        e.get("nodeid")
        for rank_events in events.values()
        for e in rank_events
        if e.get("event") == "test"
    }
    return [nodeid for nodeid in collected if nodeid not in started]


def report(root: Path, size: int, ended: dict[int, str], seen: int | None = None) -> str:
    """What to say about ranks that ended without finishing, or ``""`` if all finished;
    ``seen``: the rank seen ending before the others."""
    events = {rank: read_events(log_path(root, rank)) for rank in range(size)}
    abort = aborted(events)
    first = ended_the_run(events, ended, size, seen=seen)
    if first is not None:
        ended = {**ended, first[0]: first[1]}
    if any(e.get("event") == "deadlock" for rank_events in events.values() for e in rank_events):
        return ""  # the rank that saw the deadlock has reported it
    lines = [
        f"rank {rank} ended without finishing the session, {where(rank_events)}"
        f"{' (' + ended[rank] + ')' if rank in ended else ''}; "
        f"its last result: {_last_result(rank_events)}"
        for rank, rank_events in events.items()
        if not any(e.get("event") == "finish" for e in rank_events)
    ]
    if not lines:
        return ""
    if abort is not None:
        head = f"Rank {abort[0]} called MPI_Abort in {abort[1]} ({abort[2]})."
    elif first is not None:
        head = f"Rank {first[0]} died first ({first[1]})."
    else:
        head = "Which rank died first is not known: the ranks were seen ending together."
    left = not_run(events)
    shown = [f"  {nodeid}" for nodeid in left[:_NOT_RUN_SHOWN]]
    if len(left) > _NOT_RUN_SHOWN:
        shown.append(f"  ... and {len(left) - _NOT_RUN_SHOWN} more")
    tail = [f"{len(left)} test(s) did not run because the run had to end:", *shown] if left else []
    return (
        "\n" + "=" * 78 + "\npytest-patch: the MPI run ended early. When one rank dies "
        "(crash, os._exit, MPI_Abort), mpiexec kills the others (SIGKILL).\n"
        + "\n".join([head, *lines, *tail])
        + "\n"
    )


def junit(root: Path, size: int, ended: dict[int, str], seen: int | None = None) -> None:
    """Write the junit XML that rank 0 could not, when it was asked for and rank 0 did not
    finish: each test's outcome over the ranks; the test the run ended in and the tests
    that did not run, as errors."""
    events = {rank: read_events(log_path(root, rank)) for rank in range(size)}
    collected = next((e for e in events.get(0, []) if e.get("event") == "collected"), None)
    if collected is None or not collected.get("junitxml"):
        return
    if any(e.get("event") == "finish" for e in events.get(0, [])):
        return  # rank 0 wrote it
    reason = report(root, size, ended, seen).strip().strip("=").strip() or _deadlock_text(events)
    suite = ElementTree.Element("testsuite", name="pytest")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for nodeid in collected["nodeids"]:
        path, _, name = nodeid.partition("::")
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=path.replace("/", ".").removesuffix(".py"),
            name=name or nodeid,
        )
        counts["tests"] += 1
        outcome, message = _outcome(events, nodeid, size)
        if outcome == "failed":
            counts["failures"] += 1
            ElementTree.SubElement(case, "failure", message=message).text = message
        elif outcome == "skipped":
            counts["skipped"] += 1
            ElementTree.SubElement(case, "skipped", message=message)
        elif outcome != "passed":
            counts["errors"] += 1
            text = "did not run: the MPI run ended early" if outcome == "not run" else reason
            first = next(
                (line for line in text.splitlines() if line.startswith(("Rank", "Which"))),
                text.splitlines()[0],
            )
            ElementTree.SubElement(case, "error", message=first).text = text
    for key, value in counts.items():
        suite.set(key, str(value))
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    tree = ElementTree.ElementTree(suites)
    try:
        tree.write(collected["junitxml"], encoding="utf-8", xml_declaration=True)
    except OSError:
        pass


def _deadlock_text(events: dict[int, list[dict[str, Any]]]) -> str:
    for rank_events in events.values():
        for e in rank_events:
            if e.get("event") == "deadlock":
                notes = "\n".join(f"rank {r}: {n}" for r, n in sorted(e.get("notes", {}).items()))
                return f"MPI deadlock in {e['nodeid']} ({e['when']})\n{notes}"
    return "the MPI run ended early"


def _outcome(events: dict[int, list[dict[str, Any]]], nodeid: str, size: int) -> tuple[str, str]:
    """A test's outcome over all ranks, from their event files: ``passed``, ``failed``,
    ``skipped``, ``ended`` (the run ended in it) or ``not run``."""
    reports = [
        [e for e in events.get(rank, []) if e.get("event") == "report" and e["nodeid"] == nodeid]
        for rank in range(size)
    ]
    started = any(
        e.get("event") == "test" and e.get("nodeid") == nodeid
        for rank_events in events.values()
        for e in rank_events
    )
    if not started:
        return "not run", ""
    finished = all(any(e["when"] == "teardown" for e in rank) for rank in reports)
    aborted = any(
        e.get("event") == "abort" and e.get("nodeid") == nodeid
        for rank_events in events.values()
        for e in rank_events
    )
    if not finished or aborted:
        return "ended", ""
    outcomes = [e["outcome"] for rank in reports for e in rank]
    if "failed" in outcomes:
        failed = [
            str(r) for r, rank in enumerate(reports) if any(e["outcome"] == "failed" for e in rank)
        ]
        return "failed", f"failed on rank(s) {', '.join(failed)}"
    if "skipped" in outcomes:
        return "skipped", "skipped"
    return "passed", ""


def _last_result(events: list[dict[str, Any]]) -> str:
    last = next((e for e in reversed(events) if e.get("event") == "report"), None)
    if last is None:
        return "none"
    return f"{last['nodeid']} ({last['when']}) {last['outcome']}"


def watch(pids: list[int]) -> tuple[dict[int, str], int | None]:
    """Wait until the ranks ``pids`` (0: not on this host) are gone; how each ended, and
    the one rank that ended before all others, when that is known.

    Each rank is watched through a pidfd, which wakes this process as soon as a rank
    exits: a rank seen ending alone, before any other, is the one that ended the run
    (the launcher kills the others only after it). Without pidfds, ranks are polled.
    """
    running = {rank for rank, pid in enumerate(pids) if pid}
    ended: dict[int, str] = {}
    order: list[set[int]] = []  # the ranks seen gone, look by look
    fds: dict[int, int] = {}
    for rank in running:
        try:
            fds[os.pidfd_open(pids[rank])] = rank
        except (AttributeError, OSError):
            break
    poller = select.poll()
    if len(fds) == len(running):
        for fd in fds:
            poller.register(fd, select.POLLIN)
    else:
        fds = {}
    while running:
        if fds:
            poller.poll(1000)
        gone = set()
        for rank in list(running):
            still, how = status(pids[rank])
            if not still:
                running.discard(rank)
                gone.add(rank)
                if how:
                    ended[rank] = how
        if gone:
            order.append(gone)
        for fd, rank in list(fds.items()):
            if rank not in running:
                poller.unregister(fd)
                os.close(fd)
                del fds[fd]
        if not fds:
            time.sleep(_POLL_SECONDS if running else 0)
    first = next(iter(order[0])) if order and len(order[0]) == 1 and len(order) > 1 else None
    return ended, first


def parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def launcher(pid: int) -> tuple[int, int] | None:
    """The launcher that started the rank ``pid`` on this host and its standard output,
    opened for this process to write to (``None`` if there is none to find)."""
    for _ in range(8):
        pid = parent(pid)
        if pid <= 1:
            return None
        try:
            with open(f"/proc/{pid}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            return None
        if name.startswith(_LAUNCHERS):
            try:
                return pid, os.open(f"/proc/{pid}/fd/1", os.O_WRONLY | os.O_APPEND)
            except OSError:
                return None
    return None


def main(argv: list[str]) -> None:
    launcher_pid, out = 0, -1
    shared: set[str] = set()
    while argv[0].startswith("--"):
        option, _, value = argv.pop(0).partition("=")
        if option == "--launcher":  # its pid and its output, open as a descriptor
            launcher_pid, out = map(int, value.split(":"))
        elif option == "--shared":  # the run's shared-memory files, as rank 0 saw them
            shared |= {path for path in value.split(os.pathsep) if is_segment(path)}
    root = Path(argv[0])
    pids = [int(pid) for pid in argv[1:]]
    # Rank 0 gave those it had mapped: the ranks may all be gone before this looks.
    shared |= segments(pids)
    ended, first = watch(pids)
    remove(shared)
    ended_path(root).write_text(json.dumps(ended))
    text = report(root, len(pids), ended, first)
    junit(root, len(pids), ended, first)
    if not text:
        return
    if out < 0:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    # The report goes to the launcher's own output once it has ended, so that it is the
    # last thing the run says even when the launcher stops forwarding rank 0's output
    # at once (MPI_Abort) or prints a banner of its own.
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):  # rank 0's output and errors: the launcher waits for them to close
        os.dup2(null, fd)
    deadline = time.monotonic() + _LAUNCHER_WAIT_SECONDS
    while status(launcher_pid)[0] and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    os.write(out, text.encode())


if __name__ == "__main__":
    main(sys.argv[1:])
