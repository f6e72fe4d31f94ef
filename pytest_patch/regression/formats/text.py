"""The readable golden layout of spikes, features and printed output: JSON with one line
per gid, feature or printed line, so a pull request shows what changed.

The header may carry the fingerprint of the data and of the text below it, so a check of
identical data need not parse the numbers, and a hand edit is always read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import header as header_
from .protocol import Golden, GoldenError

_HEADER_KEYS = ("kind", "format", "made_by", "tolerances", "digest", "body", "exact")


def number(value: float) -> str:
    """The shortest text that reads back as the same float (JSON has no NaN)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be stored in a golden file")
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") and "e" not in text else text


def row(values: Any) -> str:
    if values is None:
        return "null"
    return "[" + ", ".join(number(v) for v in np.asarray(values, dtype=float).ravel()) + "]"


def write(
    header: dict[str, Any], kind: str, data: Mapping[Any, Any], fingerprint: str | None = None
) -> bytes:
    """The file: ``header`` line by line, then ``kind``'s mapping, one line per entry
    (with ``fingerprint``, the header also records the fingerprint of that body)."""
    rows = [f"    {json.dumps(str(name))}: {row(values)}" for name, values in data.items()]
    body = ",\n".join(rows) + "\n  }\n}\n"
    header = dict(header)
    if fingerprint is not None:
        header["digest"] = fingerprint
        header["body"] = header_.digest(np.frombuffer(body.encode(), np.uint8))
    lines = ["{"]
    for key in _HEADER_KEYS:
        if key in header:
            lines.append(f"  {json.dumps(key)}: {json.dumps(header[key], sort_keys=True)},")
    lines.append(f"  {json.dumps(kind)}: {{")
    return ("\n".join(lines) + "\n" + body).encode("utf-8")


def unedited_header(path: Path, kind: str, exact: bool = True) -> dict[str, Any] | None:
    """The header of a golden whose body is as it was written (its fingerprint in the
    header matches), read without parsing the body (nor, unless ``exact``, the header's
    last key, ``exact``, written last); ``None`` otherwise."""
    try:
        content = path.read_bytes()
        marker = f'\n  "{kind}": {{\n'.encode()
        split = content.find(marker)
        if split < 0:
            return None
        head = content[:split]
        if not exact and (line := head.find(b'\n  "exact": ')) >= 0:
            head = head[:line]
        header = json.loads(head.rstrip().rstrip(b",") + b"}")
        body = memoryview(content)[split + len(marker) :]
        if not isinstance(header, dict) or header.get("body") != header_.digest(
            np.frombuffer(body, np.uint8)
        ):
            return None
        return header
    except (OSError, ValueError, KeyError, RecursionError, MemoryError):
        return None


def stored_fingerprint(path: Path, kind: str) -> Any:
    """The fingerprint in the header, when the body below it is as written; else ``None``."""
    header = unedited_header(path, kind, exact=False)
    return None if header is None else header.get("digest")


def read(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked header and the ``kind`` mapping of a readable golden."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise GoldenError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None
    header = header_.check(path, document, kind)
    body = document.get(kind)
    if not isinstance(body, dict):
        raise GoldenError(f"{path} has no {kind!r} mapping")
    return header, body


def golden(path: Path, kind: str, header: dict[str, Any], data: dict[Any, Any]) -> Golden:
    """A :class:`Golden` of ``data`` with what the header says made it."""
    return Golden(
        kind, data, header.get("made_by") or {}, header_.tolerances(path, header.get("tolerances"))
    )


def read_number_lists(path: Path, kind: str, label: str) -> Golden:
    """A readable golden whose ``kind`` mapping gives each name a list of numbers or null
    (features, printed output); ``label`` names an entry in the error of a bad one."""
    header, body = read(path, kind)
    data: dict[str, Any] = {}
    for name, values in body.items():
        message = f"{path}: {label} {name!r} must be a list of numbers or null"
        data[name] = None if values is None else numbers(values, message)
    return golden(path, kind, header, data)


def numbers(values: Any, message: str) -> np.ndarray:
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
