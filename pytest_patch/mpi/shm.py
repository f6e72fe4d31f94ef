"""The shared-memory files an MPI library keeps in ``/dev/shm`` for a world while its
processes live (MPICH's: about 2 MB for a run of ranks, 1 MB for a serial process that
initialised MPI on its own). The library removes them at ``MPI_Finalize``; a process that
is killed, calls ``MPI_Abort`` or ``os._exit`` leaves its file behind, in memory until
the machine restarts. Whoever watches such processes notes their files while they live
(:func:`segments`) and removes what is left once they are gone (:func:`remove`).

Standard library only: the rank watcher (``monitor.py``) runs it as a plain script.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_SHARED_MEMORY = "/dev/shm/"
_SEGMENT_PREFIXES = ("mpich_shm_",)


def is_segment(path: str) -> bool:
    """Whether ``path`` names a shared-memory file of an MPI library (not one removed)."""
    name = path.removeprefix(_SHARED_MEMORY)
    return (
        name != path
        and name.startswith(_SEGMENT_PREFIXES)
        and "/" not in name
        and not name.endswith(" (deleted)")  # how /proc shows a mapped file removed already
    )


def segments(pids: Iterable[int]) -> set[str]:
    """The MPI shared-memory files that the processes ``pids`` (on this host) have mapped."""
    found: set[str] = set()
    for pid in pids:
        if not pid:
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    fields = line.split(maxsplit=5)
                    path = fields[5].rstrip("\n") if len(fields) == 6 else ""
                    if is_segment(path):
                        found.add(path)
        except OSError:
            continue  # gone already
    return found


def remove(paths: Iterable[str]) -> None:
    """Remove the shared-memory files that processes, all gone, left behind."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass  # the MPI library removed it (the processes finished)
