"""What every golden file records besides its data: its kind, the format version, what
made it and the tolerances a calibration stored; and the fingerprint of exact values."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..._validate import is_number
from .protocol import FORMAT, GoldenError


def check(path: Path, header: Any, kind: str) -> dict[str, Any]:
    """``header`` if it is a ``kind`` golden this version reads; else :class:`GoldenError`."""
    if not isinstance(header, dict) or header.get("kind") != kind:
        raise GoldenError(f"{path} is not a {kind} golden file of pytest-patch")
    version = header.get("format")
    if not isinstance(version, int):
        raise GoldenError(f"{path} has no format version")
    if version > FORMAT:
        raise GoldenError(
            f"{path} was written by a newer pytest-patch (format {version}; this one reads "
            f"up to {FORMAT}): upgrade nrn-patch, or rewrite it with --nrn-regen"
        )
    return header


def tolerances(path: Path, raw: Any) -> dict[str, dict[str, float]]:
    """The stored tolerances of a header, checked."""
    if raw is None:
        return {}
    ok = isinstance(raw, dict) and all(
        isinstance(v, dict)
        and all(k in ("rtol", "atol", "window") and _nonnegative(x) for k, x in v.items())
        for v in raw.values()
    )
    if not ok:
        raise GoldenError(
            f"{path}: 'tolerances' must map names to {{'rtol'|'atol'|'window': number >= 0}}"
        )
    return {str(name): {k: float(x) for k, x in value.items()} for name, value in raw.items()}


def _nonnegative(value: Any) -> bool:
    return is_number(value) and value >= 0


def digest(*arrays: Any) -> str:
    """A fingerprint of arrays' exact values: equal fingerprints, bit-identical data."""
    h = hashlib.sha1(usedforsecurity=False)
    for array in arrays:
        if array is not None:
            h.update(np.ascontiguousarray(array).view(np.uint8).data)
        h.update(b"|")
    return h.hexdigest()
