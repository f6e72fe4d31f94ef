"""Per-rank event files that outlive a crashed rank, so someone can say what it was doing.

Every rank appends one JSON line per event to ``rank-N.jsonl`` in the session's shared
directory, with one ``write`` call each, so a line is complete on disk as soon as the
call returns, even if the process is killed right after. The stack of a rank that hangs
is dumped into ``rank-N.stack`` by :mod:`faulthandler` on request.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

_TAIL_BYTES = 1 << 16


def log_path(root: Path, rank: int) -> Path:
    """The event file of ``rank``."""
    return root / f"rank-{rank}.jsonl"


def ended_path(root: Path) -> Path:
    """Where the watcher of the ranks writes how each one ended (``monitor.py``)."""
    return root / "ended.json"


def stack_path(root: Path, rank: int) -> Path:
    """The file ``rank`` dumps its Python stack into when asked."""
    return root / f"rank-{rank}.stack"


class RankLog:
    """This rank's event file, opened for appending."""

    def __init__(self, root: Path, rank: int) -> None:
        self.path = log_path(root, rank)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, event: str, **fields: Any) -> None:
        """Append one event line (``OSError`` once closed: its descriptor may be reused)."""
        if self._fd < 0:
            raise OSError(errno.EBADF, f"{self.path} is closed")
        line = json.dumps({"event": event, **fields}, default=str) + "\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        os.close(fd)


def read_events(path: Path, *, tail: bool = False) -> list[dict[str, Any]]:
    """The complete event lines of a rank file (only the last ones with ``tail``)."""
    try:
        with open(path, "rb") as file:
            if tail:
                file.seek(max(0, os.fstat(file.fileno()).st_size - _TAIL_BYTES))
            data = file.read()
    except OSError:
        return []
    lines = data.split(b"\n")[:-1]  # the last piece is empty or a line cut short
    if tail and lines:
        lines = lines[1:]  # may start mid-line
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def read_stack(root: Path, rank: int) -> str:
    """What ``rank`` dumped of its stack, or an empty string."""
    try:
        return stack_path(root, rank).read_text(errors="replace").strip()
    except OSError:
        return ""
