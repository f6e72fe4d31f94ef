"""Golden traces: a compressed numpy archive (``.traces.npz``), compared on the golden's
time points with per-name tolerances.

The archive holds, per trace, ``<name>/values`` and ``<name>/time`` (a time axis shared
by several traces is stored once, with the first of them) and a JSON header
``__golden__``. Values are float64 with their bytes grouped by position, which compresses
losslessly to about 70% of a trace and almost nothing of a time axis.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...compare import Trace, TraceComparison, compare_traces
from .. import plots, voltage
from . import header as header_
from .protocol import Golden, GoldenError, Outcome, Tolerances, names_differ

_META = "__golden__"


class TracesKind:
    name = "traces"
    suffix = ".npz"
    what = "traces"

    def read(self, path: Path) -> Golden:
        with np.load(path, allow_pickle=False) as archive:
            _check_sizes(path, archive)
            if _META not in archive.files:
                raise GoldenError(f"{path} is not a traces golden file of pytest-patch")
            header = header_.check(path, json.loads(str(archive[_META])), "traces")
            data: dict[str, Any] = {}
            shared = header.get("time_of") or {}
            for name in header.get("names", []):
                values = _unshuffle(archive[f"{name}/values"])
                owner = shared.get(name, name)
                if owner != name and owner in data:
                    time = data[owner][0]
                elif f"{owner}/time" in archive.files:
                    time = _unshuffle(archive[f"{owner}/time"])
                else:
                    time = None
                if values.ndim != 1 or (time is not None and time.shape != values.shape):
                    raise GoldenError(f"{path}: trace {name!r} has mismatched time and values")
                data[name] = (time, values)
        tolerances = header_.tolerances(path, header.get("tolerances"))
        return Golden("traces", data, header.get("made_by") or {}, tolerances)

    def write(self, header: dict[str, Any], data: Mapping[str, Trace]) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        # Traces of one run share their time axis: it is stored once, with the first of them.
        shared: dict[str, str] = {}
        axes: list[tuple[str, np.ndarray]] = []
        for name, (time, values) in data.items():
            arrays[f"{name}/values"] = _shuffle(values)
            if time is None:
                continue
            same = next((owner for owner, axis in axes if np.array_equal(axis, time)), None)
            if same is None:
                axes.append((name, np.asarray(time)))
                arrays[f"{name}/time"] = _shuffle(time)
            else:
                shared[name] = same
        header = {
            **header,
            "names": list(data),
            "digest": digests(data),
            "time_of": shared,
            "layout": "float64, bytes grouped by position",
        }
        arrays[_META] = np.array(json.dumps(header, sort_keys=True))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def fingerprint(self, data: Mapping[str, Trace]) -> Any:
        return digests(data)

    def stored_fingerprint(self, path: Path) -> Any:
        try:
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(str(archive[_META]))
            return header.get("digest") if isinstance(header, dict) else None
        except (
            OSError,
            ValueError,
            KeyError,
            zipfile.BadZipFile,
            EOFError,
            RecursionError,
            MemoryError,
        ):
            return None

    def compare(self, stored: Golden, data: Mapping[str, Trace], tolerances: Tolerances) -> Outcome:
        lines, failing = names_differ(stored.data, data, "traces"), []
        for key in sorted(stored.data.keys() & data.keys()):
            rtol, atol = _effective(key, tolerances, stored.tolerances)
            result = compare_traces(key, stored.data[key], data[key], rtol, atol)
            if not result.ok:
                failing.append(result)
                lines += result.describe()
                lines += voltage.describe(stored.data[key], data[key], result)
        if not lines:
            return Outcome()
        return Outcome("\n".join(lines), failing or None)

    def spread(self, stored: Golden, data: Mapping[str, Trace]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in stored.data.keys() & data.keys():
            result = compare_traces(key, stored.data[key], data[key], 0.0, 0.0)
            out[key] = (
                None
                if result.mismatch
                else {"atol": result.needed_atol(), **voltage.facts(stored.data[key], data[key])}
            )
        return out

    def plot(self, path: Path, title: str, drawing: list[TraceComparison]) -> Path:
        return plots.traces(path, title, drawing)


KIND = TracesKind()


def _effective(
    name: str, tolerances: Tolerances, stored: Mapping[str, Mapping[str, float]]
) -> tuple[float, float]:
    """A name's tolerances: the test's per-name override, else the check's widened by a
    calibration stored in the golden."""
    rtol, atol = tolerances.rtol, tolerances.atol
    if name in tolerances.per_name:
        given = tolerances.per_name[name]
        return given.get("rtol", rtol), given.get("atol", atol)
    calibrated = stored.get(name, {})
    return max(rtol, calibrated.get("rtol", 0.0)), max(atol, calibrated.get("atol", 0.0))


def digests(data: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprint of each trace (time and values): ``header.digest(time, values)``.

    Traces of one run mostly share their time points: the hash of a time axis is taken
    once and continued with each trace's values (the same fingerprints, half the work).
    """
    out: dict[str, str] = {}
    axes: list[tuple[np.ndarray, Any]] = []  # time axes hashed so far, and their hash
    for name, (time, values) in data.items():
        if time is None:
            out[name] = header_.digest(None, np.asarray(values, "<f8"))
            continue
        time = np.ascontiguousarray(time, "<f8")
        bits = time.view(np.uint64)
        state = next(
            (
                h
                for axis, h in axes
                if axis is time
                or (axis.shape == time.shape and np.array_equal(axis.view(np.uint64), bits))
            ),
            None,
        )
        if state is None:
            state = hashlib.sha1(usedforsecurity=False)
            state.update(time.view(np.uint8).data)
            state.update(b"|")
            axes.append((time, state))
        h = state.copy()
        h.update(np.ascontiguousarray(values, "<f8").view(np.uint8).data)
        h.update(b"|")
        out[name] = h.hexdigest()
    return out


def _check_sizes(path: Path, archive: Any) -> None:
    """Refuse an archive whose arrays claim more data than the archive holds (a damaged
    or forged header would otherwise make numpy allocate it all)."""
    for info in archive.zip.infolist():
        with archive.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            claimed = math.prod(shape) * dtype.itemsize
            if claimed > info.file_size:
                raise GoldenError(
                    f"{path} is not a readable traces golden: {info.filename} claims "
                    f"{math.prod(shape)} values but holds {info.file_size} bytes"
                )


def _shuffle(values: Any) -> np.ndarray:
    """float64 values as 8 rows of bytes, the first bytes of all values, then the second...

    Neighbouring samples share their sign, exponent and leading digits, so grouping bytes
    by position lets zlib compress a trace to about 70% of its raw size and a time axis to
    almost nothing (lossless; plain float64 hardly compresses at all).
    """
    array = np.ascontiguousarray(values, dtype="<f8")
    return np.ascontiguousarray(array.view(np.uint8).reshape(-1, 8).T)


def _unshuffle(stored: np.ndarray) -> np.ndarray:
    if stored.dtype == np.uint8 and stored.ndim == 2 and stored.shape[0] == 8:
        # Byte k of every value from row k: eight strided copies cost less than one
        # transposing copy of single bytes.
        values = np.empty((stored.shape[1], 8), dtype=np.uint8)
        for k in range(8):
            values[:, k] = stored[k]
        return values.view("<f8").ravel()
    return np.asarray(stored, dtype=float)
