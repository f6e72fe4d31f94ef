"""Golden spikes: readable JSON (``.spikes.json``), one line per gid with its spike times,
matched gid by gid within a window.

Parsing decimal text is what a large golden costs to read (about 0.4 µs a number): a
golden of :data:`EXACT_FROM` spikes or more also carries, on one line of its header,
``"exact"``: the same gids, spike counts and times as little-endian int64, int64 and
float64, base64-encoded. They are read instead of the rows when the rows are as written
(the header's ``body`` fingerprint) and they are the data the header's ``digest`` was
made of; a file edited by hand is read from its rows. Older files (without ``exact``)
are read from their rows, and older readers ignore the key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...compare import Raster, SpikeComparison, compare_spikes
from .. import plots
from . import header as header_, text
from .protocol import Golden, GoldenError, Outcome, Tolerances


class SpikesKind:
    name = "spikes"
    suffix = ".json"
    what = "spikes"

    def read(self, path: Path) -> Golden:
        exact = _read_exact(path)
        if exact is not None:
            return exact
        header, body = text.read(path, "spikes")
        data: dict[int, Any] = {}
        for gid, times in body.items():
            if not re.fullmatch(r"-?[0-9]+", gid):
                raise GoldenError(f"{path}: {gid!r} is not a gid (a whole number)")
            data[int(gid)] = text.numbers(
                times, f"{path}: the spikes of gid {gid} must be a list of numbers"
            )
        return text.golden(path, "spikes", header, data)

    def write(self, header: dict[str, Any], data: Raster | Mapping[int, Any]) -> bytes:
        trains = _trains(data)
        if sum(len(times) for times in trains.values()) >= EXACT_FROM:
            header = {**header, "exact": _exact(trains)}
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
        return {
            "spikes": None if result.needed_window is None else {"window": result.needed_window}
        }

    def plot(self, path: Path, title: str, drawing: SpikeComparison) -> Path:
        return plots.raster(path, title, drawing)


KIND = SpikesKind()

#: Goldens of this many spikes or more carry their data exactly in binary as well.
EXACT_FROM = 10_000
_LAYOUT = "base64 of little-endian int64 gids, int64 counts, float64 times"


def _exact(trains: Mapping[int, Any]) -> dict[str, str]:
    gids = sorted(trains)
    arrays = {
        "gids": np.asarray(gids, "<i8"),
        "counts": np.asarray([len(trains[gid]) for gid in gids], "<i8"),
        "times": np.concatenate([np.asarray(trains[gid], "<f8") for gid in gids])
        if gids
        else np.empty(0, "<f8"),
    }
    encoded = {
        key: base64.b64encode(array.tobytes()).decode("ascii") for key, array in arrays.items()
    }
    return {"layout": _LAYOUT, **encoded}


def _read_exact(path: Path) -> Golden | None:
    """The golden from its header's exact data, or ``None`` when it has none to trust."""
    found = text.unedited_header(path, "spikes")
    exact = None if found is None else found.get("exact")
    if not isinstance(exact, dict) or exact.get("layout") != _LAYOUT:
        return None
    header = header_.check(path, found, "spikes")
    try:
        gids, counts, times = (
            np.frombuffer(base64.b64decode(exact[key].encode("ascii")), dtype)
            for key, dtype in (("gids", "<i8"), ("counts", "<i8"), ("times", "<f8"))
        )
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
        return None
    if gids.size != counts.size or (counts < 0).any() or int(counts.sum()) != times.size:
        return None
    times, ends = times.copy(), np.cumsum(counts).tolist()
    data = {
        gid: times[end - count : end]
        for gid, count, end in zip(gids.tolist(), counts.tolist(), ends, strict=True)
    }
    if digest(data) != header.get("digest"):
        return None
    return text.golden(path, "spikes", header, data)


def _trains(data: Raster | Mapping[int, Any]) -> Mapping[int, Any]:
    return data.trains() if isinstance(data, Raster) else data


def digest(trains: Mapping[Any, Any]) -> str:
    """The fingerprint of a raster, gid by gid in increasing order."""
    gids = sorted(gid for gid, times in trains.items() if len(times))
    return header_.digest(
        np.asarray(gids, "<i8"),
        *(np.asarray(trains[gid], "<f8") for gid in gids),
    )
