"""nrn-patch 8's ``patch.extensions`` (a glia package with a VecStim mod): gone in Patch 9.

Patch ships no ``.mod`` files. Compile a VecStim of your own with
``patch.load_mechanisms(folder)``; docs/migrating.md says more.
"""

from __future__ import annotations

from typing import Any

from ._compat import retired as _retired

_FATES: dict[str, tuple[str, str | None]] = {
    "package": (
        "Patch ships no .mod files and registers no glia package: compile a VecStim mod of "
        "your own with patch.load_mechanisms(folder).",
        None,
    ),
}


def __getattr__(name: str) -> Any:
    return _retired(__name__, name, _FATES)
