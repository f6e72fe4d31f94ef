"""Golden files: where a test's expected results live, and how they are read and written.

A test module ``tests/test_cell.py`` keeps its goldens in ``tests/test_cell/``, one file
per test and kind of check (and per check name when a test checks several):
``test_fires.spikes.json``, ``test_fires.features.json`` (text that diffs well in a pull
request) and ``test_fires.traces.npz`` (a compressed numpy archive). A variant for one
build sits beside the base file as ``test_fires.traces@neuron-9.0.npz``.

Every file records the format version, the NEURON and Patch versions and the
configuration that produced it, and the tolerances a calibration stored.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import re
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import patch

#: The format version written; files of a newer version are refused, not misread.
FORMAT = 1
KINDS = ("traces", "spikes", "features", "output")
_SUFFIX = {"traces": ".npz", "spikes": ".json", "features": ".json", "output": ".json"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-=+,.]")
#: What golden names were made of before brackets were replaced (read, never written).
_LEGACY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-\[\]=+,.]")
_META = "__golden__"


class GoldenError(Exception):
    """A golden file that cannot be used: corrupt, of a newer format, or nonsensical."""


@dataclass
class Golden:
    """The content of one golden file: data by name, and what made it."""

    kind: str
    data: dict[Any, Any]
    made_by: dict[str, Any] = field(default_factory=dict)
    #: Per-name tolerances stored by ``--nrn-calibrate`` (``{"soma": {"atol": 0.2}}``).
    tolerances: dict[str, dict[str, float]] = field(default_factory=dict)


def safe_name(text: str) -> str:
    """A form of a test name or check name that needs no quoting in a shell: a test's
    parameters ``test_fig1[a-1]`` become ``test_fig1__a-1``, and every other character but
    letters, digits and ``_-=+,.`` becomes ``_``."""
    if text.endswith("]") and "[" in text:
        head, _, parameters = text[:-1].partition("[")
        text = f"{head}__{parameters}"
    return _UNSAFE.sub("_", text)


def legacy_name(text: str) -> str:
    """The name golden files had before :func:`safe_name` replaced brackets
    (``test_fig1[a-1]``); such files are still read."""
    return _LEGACY_UNSAFE.sub("_", text)


def golden_path(folder: Path, stem: str, name: str | None, kind: str, variant: str | None) -> Path:
    """The file of one check: ``<stem>[.<name>].<kind>[@<variant>].<ext>``."""
    parts = [stem] + ([safe_name(name)] if name else []) + [kind]
    base = ".".join(parts) + (f"@{safe_name(variant)}" if variant else "")
    return folder / (base + _SUFFIX[kind])


@functools.lru_cache(maxsize=None)
def _versions() -> tuple[tuple[str, str], ...]:
    try:
        neuron = metadata.version("neuron")
    except metadata.PackageNotFoundError:  # a NEURON built from source
        neuron = str(patch.p.nrnversion(0))
    return (("neuron", neuron), ("patch", patch.__version__))


def versions() -> dict[str, str]:
    """The versions that go into every golden file."""
    return dict(_versions())


def build_variant() -> str:
    """The name of this build's variant: NEURON's major.minor version."""
    release = versions()["neuron"].split(".")
    return "neuron-" + ".".join(release[:2])


def digest(*arrays: Any) -> str:
    """A fingerprint of arrays' exact values: equal fingerprints, bit-identical data."""
    h = hashlib.sha1(usedforsecurity=False)
    for array in arrays:
        if array is not None:
            h.update(np.ascontiguousarray(array).view(np.uint8).data)
        h.update(b"|")
    return h.hexdigest()


def trace_digests(data: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprint of each trace (time and values): ``digest(time, values)``.

    Traces of one run mostly share their time points: the hash of a time axis is taken
    once and continued with each trace's values (the same fingerprints, half the work).
    """
    out: dict[str, str] = {}
    axes: list[tuple[np.ndarray, Any]] = []  # time axes hashed so far, and their hash
    for name, (time, values) in data.items():
        if time is None:
            out[name] = digest(None, np.asarray(values, "<f8"))
            continue
        time = np.ascontiguousarray(time, "<f8")
        bits = time.view(np.uint64)
        state = next(
            (h for axis, h in axes if axis is time or (axis.shape == time.shape and np.array_equal(axis.view(np.uint64), bits))),
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


def spike_digest(trains: Mapping[Any, Any]) -> str:
    """The fingerprint of a raster, gid by gid in increasing order."""
    gids = sorted(gid for gid, times in trains.items() if len(times))
    return digest(
        np.asarray(gids, "<i8"),
        *(np.asarray(trains[gid], "<f8") for gid in gids),
    )


# -- reading -------------------------------------------------------------------------


def fingerprint(path: Path, kind: str) -> Any:
    """The fingerprint a golden file was written with, read without reading its data;
    ``None`` when there is none or the data was edited since (then read it all)."""
    try:
        if kind == "traces":
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(str(archive[_META]))
            return header.get("digest") if isinstance(header, dict) else None
        text = path.read_text(encoding="utf-8")
        marker = f'\n  "{kind}": {{\n'
        split = text.find(marker)
        if split < 0:
            return None
        header = json.loads(text[:split].rstrip().rstrip(",") + "}")
        body = text[split + len(marker) :]
        if not isinstance(header, dict) or header.get("body") != digest(np.frombuffer(body.encode(), np.uint8)):
            return None
        return header.get("digest")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, RecursionError, MemoryError):
        return None



def read(path: Path, kind: str) -> Golden:
    """Read a golden file, or raise :class:`GoldenError` saying what is wrong with it."""
    if path.is_dir():
        raise GoldenError(f"{path} is a folder, not a golden file: move or delete it")
    try:
        if kind == "traces":
            golden = _read_traces(path)
        else:
            golden = _read_text(path, kind)
    except GoldenError:
        raise
    except RecursionError:
        raise GoldenError(f"{path} is not a {kind} golden file (JSON nested too deep)") from None
    except MemoryError:
        raise GoldenError(f"{path} is not a readable {kind} golden (too large to read)") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as error:
        raise GoldenError(f"{path} is not a readable {kind} golden ({error})") from None
    return golden


def _check_header(path: Path, header: Any, kind: str) -> dict[str, Any]:
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


def _tolerances(path: Path, raw: Any) -> dict[str, dict[str, float]]:
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
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _read_text(path: Path, kind: str) -> Golden:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise GoldenError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None
    header = _check_header(path, document, kind)
    body = document.get(kind)
    if not isinstance(body, dict):
        raise GoldenError(f"{path} has no {kind!r} mapping")
    data = _spikes_from_json(path, body) if kind == "spikes" else _features_from_json(path, body)
    return Golden(kind, data, header.get("made_by") or {}, _tolerances(path, header.get("tolerances")))


def _spikes_from_json(path: Path, body: dict[str, Any]) -> dict[int, Any]:
    data: dict[int, Any] = {}
    for gid, times in body.items():
        if not re.fullmatch(r"-?[0-9]+", gid):
            raise GoldenError(f"{path}: {gid!r} is not a gid (a whole number)")
        data[int(gid)] = _numbers(times, f"{path}: the spikes of gid {gid} must be a list of numbers")
    return data


def _features_from_json(path: Path, body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, values in body.items():
        message = f"{path}: feature {name!r} must be a list of numbers or null"
        data[name] = None if values is None else _numbers(values, message)
    return data


def _numbers(values: Any, message: str) -> np.ndarray:
    """A list of numbers from JSON as a float array, or :class:`GoldenError` with ``message``."""
    if not isinstance(values, list):
        raise GoldenError(message)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise GoldenError(message) from None
    if array.ndim != 1 or (array.size and array.dtype != float):
        raise GoldenError(message)
    if not np.isfinite(array).all():
        raise GoldenError(f"{message}, not NaN or infinity")
    return array


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


def _read_traces(path: Path) -> Golden:
    with np.load(path, allow_pickle=False) as archive:
        _check_sizes(path, archive)
        if _META not in archive.files:
            raise GoldenError(f"{path} is not a traces golden file of pytest-patch")
        header = _check_header(path, json.loads(str(archive[_META])), "traces")
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
    return Golden("traces", data, header.get("made_by") or {}, _tolerances(path, header.get("tolerances")))


# -- writing -------------------------------------------------------------------------


def write(path: Path, golden: Golden) -> None:
    """Write ``golden`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"kind": golden.kind, "format": FORMAT, "made_by": golden.made_by}
    if golden.tolerances:
        header["tolerances"] = golden.tolerances
    if golden.kind == "traces":
        content = _traces_bytes(header, golden.data)
    else:
        content = _text(header, golden.kind, golden.data).encode("utf-8")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(content)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    for leftover in leftovers(path):
        leftover.unlink(missing_ok=True)


#: A temporary file older than this is no write in progress but one that was killed.
_STALE_TMP_SECONDS = 600.0


def leftovers(path: Path) -> list[Path]:
    """The temporary files that writes of ``path`` killed midway left beside it."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"[0-9]+\.tmp")
    now = time.time()
    try:
        found = [
            entry for entry in path.parent.iterdir()
            if pattern.fullmatch(entry.name) and now - entry.stat().st_mtime > _STALE_TMP_SECONDS
        ]  # fmt: skip
    except OSError:
        return []
    return sorted(found)


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


def _traces_bytes(header: dict[str, Any], data: Mapping[str, Any]) -> bytes:
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
        "digest": trace_digests(data),
        "time_of": shared,
        "layout": "float64, bytes grouped by position",
    }
    arrays[_META] = np.array(json.dumps(header, sort_keys=True))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _number(value: float) -> str:
    """The shortest text that reads back as the same float (JSON has no NaN)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be stored in a golden file")
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") and "e" not in text else text


def _row(values: Any) -> str:
    if values is None:
        return "null"
    return "[" + ", ".join(_number(v) for v in np.asarray(values, dtype=float).ravel()) + "]"


def _text(header: dict[str, Any], kind: str, data: Mapping[str, Any]) -> str:
    """JSON with one line per gid or feature, so a pull request shows what changed.

    The header carries the fingerprint of the data and of the text below it, so a check
    of identical data need not parse the numbers, and a hand edit is always read.
    """
    rows = [f"    {json.dumps(str(name))}: {_row(values)}" for name, values in data.items()]
    body = ",\n".join(rows) + "\n  }\n}\n"
    header = dict(header)
    if kind == "spikes":
        header["digest"] = spike_digest(data)
        header["body"] = digest(np.frombuffer(body.encode(), np.uint8))
    lines = ["{"]
    for key in ("kind", "format", "made_by", "tolerances", "digest", "body"):
        if key in header:
            lines.append(f"  {json.dumps(key)}: {json.dumps(header[key], sort_keys=True)},")
    lines.append(f"  {json.dumps(kind)}: {{")
    return "\n".join(lines) + "\n" + body
