"""Golden spikes: readable JSON (``.spikes.json``), one line per gid with its spike times,
matched gid by gid within a window."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...compare import Raster, SpikeComparison, compare_spikes
from .. import plots
from . import header as header_
from . import text
from .protocol import Golden, GoldenError, Outcome, Tolerances


class SpikesKind:
    name = "spikes"
    suffix = ".json"
    what = "spikes"

    def read(self, path: Path) -> Golden:
        header, body = text.read(path, "spikes")
        data: dict[int, Any] = {}
        for gid, times in body.items():
            if not re.fullmatch(r"-?[0-9]+", gid):
                raise GoldenError(f"{path}: {gid!r} is not a gid (a whole number)")
            data[int(gid)] = text.numbers(times, f"{path}: the spikes of gid {gid} must be a list of numbers")
        return text.golden(path, "spikes", header, data)

    def write(self, header: dict[str, Any], data: Raster | Mapping[int, Any]) -> bytes:
        trains = _trains(data)
        return text.write(header, "spikes", trains, fingerprint=digest(trains))

    def fingerprint(self, data: Raster) -> Any:
        return digest(data.trains())

    def stored_fingerprint(self, path: Path) -> Any:
        return text.stored_fingerprint(path, "spikes")

    def compare(self, stored: Golden, data: Raster, tolerances: Tolerances) -> Outcome:
        expected = Raster.from_mapping(stored.data)
        window = max(tolerances.window, stored.tolerances.get("spikes", {}).get("window", 0.0))
        result = compare_spikes(expected, data, window)
        return Outcome() if result.ok else Outcome("\n".join(result.describe()), result)

    def spread(self, stored: Golden, data: Raster) -> dict[str, Any]:
        result = compare_spikes(Raster.from_mapping(stored.data), data, 0.0)
        return {"spikes": None if result.needed_window is None else {"window": result.needed_window}}

    def plot(self, path: Path, title: str, drawing: SpikeComparison) -> Path:
        return plots.raster(path, title, drawing)


KIND = SpikesKind()


def _trains(data: Raster | Mapping[int, Any]) -> Mapping[int, Any]:
    return data.trains() if isinstance(data, Raster) else data


def digest(trains: Mapping[Any, Any]) -> str:
    """The fingerprint of a raster, gid by gid in increasing order."""
    gids = sorted(gid for gid, times in trains.items() if len(times))
    return header_.digest(
        np.asarray(gids, "<i8"),
        *(np.asarray(trains[gid], "<f8") for gid in gids),
    )
