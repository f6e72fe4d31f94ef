"""nrn-patch 8's ``patch.error_handler``: gone in Patch 9, each name says why.

nrn-patch 8 called NEURON and translated the hoc error it printed. Patch 9 checks the
arguments before NEURON sees them and raises a ``patch.exceptions`` error itself: a
``HocError`` for a failed hoc call through ``p``, ``NotConnectableError`` for a NetCon
that cannot be made, ``NotRecordableError``, ``SectionAccessError``. Catch those.
Importing this module works, so that a suite that imports it still runs; using any of its
names raises an ``UnknownAttributeError``. docs/migrating.md lists every name.
"""

from __future__ import annotations

from typing import Any

from ._compat import retired as _retired

_CHECKED_FIRST = (
    "Patch checks arguments before calling NEURON and raises patch.exceptions errors itself "
    "(HocError for a failed hoc call through p, NotConnectableError, NotRecordableError, "
    "SectionAccessError): catch those."
)
_FATES: dict[str, tuple[str, str | None]] = {
    name: (_CHECKED_FIRST, None)
    for name in (
        "catch_hoc_error",
        "ErrorHandler",
        "CatchNetCon",
        "CatchRecord",
        "CatchSectionAccess",
        "detector",
    )
}


def __getattr__(name: str) -> Any:
    return _retired(__name__, name, _FATES)
