"""nrn-patch 8's ``patch.interpreter``, for code not yet migrated.

``PythonHocInterpreter`` and ``ParallelContext`` give Patch's classes with a
``DeprecationWarning`` naming the new import; docs/migrating.md lists every name.
"""

from __future__ import annotations

from typing import Any

from ._compat import retired as _retired

_FATES: dict[str, tuple[str, str | None]] = {
    "PythonHocInterpreter": (
        "patch.PythonHocInterpreter",
        "patch._interpreter:PythonHocInterpreter",
    ),
    "ParallelContext": ("patch.ParallelContext", "patch._parallel:ParallelContext"),
    "TimeSingleton": (
        "p.time is a Vector of the time points of the last run, renewed by Patch; there is "
        "no class of its own.",
        None,
    ),
}


def __getattr__(name: str) -> Any:
    return _retired(__name__, name, _FATES)
