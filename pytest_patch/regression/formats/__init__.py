"""The golden kinds, one module each, and the one registry of them.

Each kind implements :class:`~.protocol.Kind`: its file's suffix, reading and writing,
fingerprints, comparing a run with a golden, the spread a calibration measures, and the
picture of a failure. A new kind is a new module here and one entry in :data:`KINDS`.
"""

from __future__ import annotations

from pathlib import Path

from . import features, output, spikes, traces
from .protocol import FORMAT, Golden, GoldenError, Kind, Outcome, Tolerances

#: Every kind, by name: the registry.
KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (traces.KIND, spikes.KIND, features.KIND, output.KIND)
}


def get(name: str) -> Kind:
    """The kind called ``name``."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"no golden kind {name!r}; the kinds are {', '.join(KINDS)}") from None


def of(path: Path) -> Kind:
    """The kind of a golden file, by its name (``test_x.<kind>[@variant].<suffix>``)."""
    for kind in KINDS.values():
        if path.name.endswith(kind.suffix):
            base = path.name[: -len(kind.suffix)].partition("@")[0]
            if base.rpartition(".")[2] == kind.name:
                return kind
    raise ValueError(f"{path.name} is not named like a golden file (test.<kind>.<suffix>)")


__all__ = ["FORMAT", "KINDS", "Golden", "GoldenError", "Kind", "Outcome", "Tolerances", "get", "of"]
