"""A watcher outside the MPI job that reports ranks that died, from their event files.

When one rank dies, the MPI launcher kills the others at once, so no rank can say what
happened. Rank 0 starts this script in its own session; it holds rank 0's standard
output (the launcher forwards it until every holder has closed it), waits until the
ranks on this host are gone, and prints which ranks ended without finishing and the
test each was in. It runs as a plain script, importing nothing beyond the standard
library and its sibling ``ranklog.py``, so that it starts fast.

    python monitor.py ROOT PID0 PID1 ...   (a PID of 0: that rank runs on another host)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

if __package__:
    from .ranklog import culprit, ended_path, log_path, read_events
else:  # run as a script
    from ranklog import culprit, ended_path, log_path, read_events  # type: ignore[no-redef,import-not-found]

_POLL_SECONDS = 0.2


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
    phases = [e["when"] for e in events if e.get("event") == "report" and e["nodeid"] == test]
    following = {"": "setup", "setup": "call", "call": "teardown"}
    phase = following.get(phases[-1] if phases else "")
    return f"in {test} ({phase})" if phase else f"after {test}"


def report(root: Path, size: int, ended: dict[int, str]) -> str:
    """What to say about ranks that ended without finishing, or ``""`` if all finished."""
    events = {rank: read_events(log_path(root, rank)) for rank in range(size)}
    first = culprit(ended, size)
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
    return (
        "\n" + "=" * 78 + "\npytest-patch: the MPI run ended early. When one rank dies "
        "(crash, os._exit, MPI_Abort), mpiexec kills the others (SIGKILL).\n"
        + "\n".join(lines) + "\n"
    )


def _last_result(events: list[dict[str, Any]]) -> str:
    last = next((e for e in reversed(events) if e.get("event") == "report"), None)
    if last is None:
        return "none"
    return f"{last['nodeid']} ({last['when']}) {last['outcome']}"


def main(argv: list[str]) -> None:
    root = Path(argv[0])
    pids = [int(pid) for pid in argv[1:]]
    running = {rank for rank, pid in enumerate(pids) if pid}
    ended: dict[int, str] = {}
    while running:
        for rank in list(running):
            still, how = status(pids[rank])
            if not still:
                running.discard(rank)
                if how:
                    ended[rank] = how
        time.sleep(_POLL_SECONDS if running else 0)
    ended_path(root).write_text(json.dumps(ended))
    text = report(root, len(pids), ended)
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
