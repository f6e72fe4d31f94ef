"""Golden files: where a test's expected results live, and how they are read and written.

A test module ``tests/test_cell.py`` keeps its goldens in ``tests/test_cell/``, one file
per test and kind of check (and per check name when a test checks several):
``test_fires.spikes.json``, ``test_fires.features.json`` (text that diffs well in a pull
request) and ``test_fires.traces.npz`` (a compressed numpy archive). A variant for one
build sits beside the base file as ``test_fires.traces@neuron-9.0.npz``.

Every file records the format version, the NEURON and Patch versions and the
configuration that produced it, and the tolerances a calibration stored. What is in a
file of each kind, and how it is compared, is that kind's module in :mod:`.formats`.
"""

from __future__ import annotations

import functools
import os
import re
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import patch

from . import formats
from .formats import FORMAT, Golden, GoldenError

__all__ = [
    "FORMAT",
    "Golden",
    "GoldenError",
    "build_variant",
    "golden_path",
    "leftovers",
    "legacy_name",
    "read",
    "safe_name",
    "versions",
    "write",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-=+,.]")
#: What golden names were made of before brackets were replaced (read, never written).
_LEGACY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-\[\]=+,.]")


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
    """The file of one check: ``<stem>[.<name>].<kind>[@<variant>].<suffix>``."""
    parts = [stem] + ([safe_name(name)] if name else []) + [kind]
    base = ".".join(parts) + (f"@{safe_name(variant)}" if variant else "")
    return folder / (base + formats.get(kind).suffix)


def patterns() -> list[str]:
    """Glob patterns that match the golden files of every kind."""
    return [f"*.{kind.name}*{kind.suffix}" for kind in formats.KINDS.values()]


@functools.cache
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


def read(path: Path, kind: str) -> Golden:
    """Read a golden file, or raise :class:`GoldenError` saying what is wrong with it."""
    if path.is_dir():
        raise GoldenError(f"{path} is a folder, not a golden file: move or delete it")
    reader = formats.get(kind)
    try:
        return reader.read(path)
    except GoldenError:
        raise
    except RecursionError:
        raise GoldenError(f"{path} is not a {kind} golden file (JSON nested too deep)") from None
    except MemoryError:
        raise GoldenError(f"{path} is not a readable {kind} golden (too large to read)") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as error:
        raise GoldenError(f"{path} is not a readable {kind} golden ({error})") from None


def write(path: Path, golden: Golden) -> None:
    """Write ``golden`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"kind": golden.kind, "format": FORMAT, "made_by": golden.made_by}
    if golden.tolerances:
        header["tolerances"] = golden.tolerances
    content = formats.get(golden.kind).write(header, golden.data)
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
            entry
            for entry in path.parent.iterdir()
            if pattern.fullmatch(entry.name) and now - entry.stat().st_mtime > _STALE_TMP_SECONDS
        ]
    except OSError:
        return []
    return sorted(found)
