"""Whether NEURON's graphics (InterViews) have a screen, and the error when they do not.

NEURON connects to the X display named by ``DISPLAY`` when it starts; without one it says
"No graphics will be displayed" and carries on, and hoc Graphs then keep no data: reading
one with ``Graph.getline`` dereferences a window that does not exist and kills the
process. NEURON records its choice in the C variable ``hoc_usegui`` of ``libnrniv``,
which is read here.
"""

from __future__ import annotations

import ctypes
import functools
import os

from ._boot import h  # noqa: F401 - NEURON must have started (and chosen) before asking
from .exceptions import NoDisplayError


@functools.lru_cache(maxsize=1)
def _usegui() -> ctypes.c_int | None:
    """NEURON's ``hoc_usegui`` flag, from the libnrniv this process loaded."""
    try:
        with open("/proc/self/maps") as maps:
            library = next(
                (line.split()[-1] for line in maps if "libnrniv" in line and "/" in line), None
            )
    except OSError:
        library = None
    try:
        handle = ctypes.CDLL(
            library or None, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL
        )
        return ctypes.c_int.in_dll(handle, "hoc_usegui")
    except (OSError, ValueError):
        return None


def has_display() -> bool:
    """Whether NEURON's graphics have a screen (hoc Graphs keep their lines).

    ``False`` when NEURON started without a usable ``DISPLAY`` (or with ``-nogui``);
    ``True`` when it opened one. Where the flag cannot be read (a NEURON library that
    does not export it), ``DISPLAY`` being set at start-up is taken as the answer.
    """
    flag = _usegui()
    if flag is None:
        return bool(os.environ.get("DISPLAY"))
    return bool(flag.value)


def require_display(what: str) -> None:
    """Raise :class:`NoDisplayError` naming ``what`` when NEURON has no screen."""
    if not has_display():
        raise NoDisplayError(
            f"{what} needs NEURON's graphics, and this NEURON started without a display "
            "(DISPLAY unset or unusable): NEURON would crash. Start NEURON under a display, "
            "e.g. a virtual one (`xvfb-run python ...`, or Xvfb with DISPLAY set before "
            "NEURON starts); pytest-patch's nrn_scripts items start one by themselves."
        )
