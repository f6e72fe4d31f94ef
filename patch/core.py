"""nrn-patch 8's ``patch.core`` (its type tests and transforms), for code not yet migrated.

Each name Patch 9 still has a meaning for gives it, with a ``DeprecationWarning`` naming
what to write instead; the others raise an ``UnknownAttributeError`` saying why they are
gone. docs/migrating.md lists every name.
"""

from __future__ import annotations

from typing import Any

from ._compat import RETIRED as _RETIRED, retired as _retired

_FATES: dict[str, tuple[str, str | None]] = {
    **{
        name: _RETIRED[name]
        for name in (
            "is_nrn_scalar",
            "is_section",
            "is_segment",
            "is_density_mechanism",
            "transform_arc",
            "transform_netcon",
            "transform_record",
        )
    },
    "transform": ("patch.transform", "patch._transform:transform"),
    "is_point_process": (
        "patch.is_point_process (for an object; for a name, `name in patch.point_processes()`)",
        "patch._mechanisms:is_point_process",
    ),
    "assert_connectable": (
        "Patch keeps no _connections: p.NetCon raises NotConnectableError itself when a "
        "source or target cannot be connected.",
        None,
    ),
}


def _is_section(obj: Any) -> bool:
    from ._boot import nrn
    from ._transform import transform

    return issubclass(type(transform(obj)), nrn.Section)


def _is_segment(obj: Any) -> bool:
    from ._boot import nrn
    from ._transform import transform

    return issubclass(type(transform(obj)), nrn.Segment)


def __getattr__(name: str) -> Any:
    return _retired(__name__, name, _FATES)
