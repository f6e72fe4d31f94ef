"""Compile and load the ``.mod`` folders a model repository names (``nrn_mod_dirs``).

Each folder is built with NEURON's ``nrnivmodl`` into ``.nrn-mod-cache/`` under the
rootdir, in a directory named after a hash of the folder's sources and the NEURON
version, so an unchanged folder is never rebuilt. Under MPI, rank 0 builds while the
other ranks wait for its verdict (a broadcast); every rank then loads the library. When
the ranks do not share a file system, a rank that cannot see rank 0's build builds its
own copy in its own cache.
"""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ._keys import mod_builds_key

CACHE_DIR = ".nrn-mod-cache"
# Files nrnivmodl reads from a mod folder: the mechanisms, what they include, C/C++ helpers.
_SOURCES = frozenset({".mod", ".inc", ".h", ".hpp", ".c", ".cpp"})
_LIBRARIES = ("libnrnmech.so", "libnrnmech.dylib", "nrnmech.dll")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Libraries loaded into this process; NEURON cannot load one twice.
_loaded: set[str] = set()


class ModCompileError(Exception):
    """``nrnivmodl`` failed on a mod folder; the message carries its output."""


@dataclass(frozen=True)
class ModBuild:
    """A mod folder and the compiled library loaded for it."""

    folder: Path
    library: Path
    #: Whether this session compiled it (``False``: found in the cache).
    compiled: bool
    seconds: float = 0.0


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register ``--nrn-mod-dir`` and the ``nrn_mod_dirs`` ini key."""
    group.addoption(
        "--nrn-mod-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of .mod files to compile (cached by content) and load before the "
        "tests are collected; repeat for several folders. Adds to nrn_mod_dirs.",
    )
    parser.addini(
        "nrn_mod_dirs",
        "folders of .mod files, relative to the rootdir, compiled (cached by content) "
        "and loaded on every rank before collection.",
        type="linelist",
        default=[],
    )


def configure(config: pytest.Config) -> None:
    """Compile (cached) and load the configured mod folders."""
    folders = mod_folders(config)
    if not folders:
        return
    cache = config.rootpath / CACHE_DIR
    builds = [build_and_load(folder, cache) for folder in folders]
    config.stash[mod_builds_key] = builds
    config.pluginmanager.register(_BuildReport(builds), "pytest-patch-mods")


def mod_folders(config: pytest.Config) -> list[Path]:
    """The mod folders of this session: ini entries (rootdir-relative), then the options."""
    entries = [(config.rootpath / entry, "nrn_mod_dirs") for entry in config.getini("nrn_mod_dirs")]
    entries += [
        (Path(entry).absolute(), "--nrn-mod-dir") for entry in config.getoption("nrn_mod_dir")
    ]
    folders: list[Path] = []
    for folder, origin in entries:
        folder = folder.resolve()
        if not folder.is_dir():
            raise pytest.UsageError(
                f"{origin}: the mod folder {folder} does not exist. Paths in the ini file "
                f"are relative to the rootdir ({config.rootpath}); --nrn-mod-dir paths are "
                "relative to the current directory."
            )
        if not any(folder.glob("*.mod")):
            raise pytest.UsageError(f"{origin}: {folder} contains no .mod files.")
        if folder not in folders:
            folders.append(folder)
    return folders


def build_and_load(folder: Path, cache: Path) -> ModBuild:
    """Build ``folder`` (on rank 0, or from the cache) and load it on every rank.

    Every rank gets the same verdict: a failure on any rank is a usage error on all.
    """
    from patch import p

    context = p.parallel
    outcome: ModBuild | str | None = None
    if context.rank == 0:
        outcome = _try_build(folder, cache)
    if context.size > 1:
        _barrier()
    outcome = context.broadcast(outcome, root=0)
    if isinstance(outcome, str):
        raise pytest.UsageError(outcome)
    assert isinstance(outcome, ModBuild)
    if not outcome.library.exists():
        # This rank does not share rank 0's file system: build a copy of its own.
        outcome = _try_build(folder, cache)
    failure = outcome if isinstance(outcome, str) else None
    if isinstance(outcome, ModBuild):
        try:
            load(outcome.library, folder)
        except pytest.UsageError as error:
            failure = str(error)
    failures: dict[str, list[int]] = {}
    for rank, message in enumerate(context.allgather(failure)):
        if message:
            failures.setdefault(message, []).append(rank)
    if failures:
        if context.size == 1:
            raise pytest.UsageError(failure)
        raise pytest.UsageError(
            "\n".join(
                f"rank{'s' * (len(ranks) > 1)} {', '.join(map(str, ranks))}: {message}"
                for message, ranks in failures.items()
            )
        )
    assert isinstance(outcome, ModBuild)
    return outcome


def _barrier() -> None:
    """Wait for every rank without spinning, so rank 0 has the cores to compile."""
    from mpi4py import MPI

    request = MPI.COMM_WORLD.Ibarrier()
    while not request.Test():
        time.sleep(0.02)


def _try_build(folder: Path, cache: Path) -> ModBuild | str:
    try:
        return build(folder, cache)
    except ModCompileError as error:
        return str(error)
    except Exception as error:  # reported on every rank instead of leaving them waiting
        return f"Could not build the mod folder {folder}: {type(error).__name__}: {error}"


def load(library: Path, folder: Path) -> None:
    """Load the library compiled from ``folder`` into NEURON, once per process."""
    from patch import p

    key = str(library)
    if key in _loaded:
        return
    # NEURON answers a name clash with an error that aborts an MPI run: check first.
    clashes = sorted(mechanism_names(folder) & loaded_mechanisms())
    if clashes:
        raise pytest.UsageError(
            f"NEURON already has mechanisms named {', '.join(clashes)}, so the ones compiled "
            f"from {folder} cannot be loaded. NEURON probably loaded an older build by "
            "itself: at import it loads the x86_64 (or arm64) folder that nrnivmodl leaves "
            "in the current directory. Delete that folder, or run pytest elsewhere."
        )
    try:
        p.nrn_load_dll(key)
    except RuntimeError as error:
        raise pytest.UsageError(
            f"NEURON could not load the mechanisms compiled at {library}: {error}"
        ) from error
    _loaded.add(key)


def mechanism_names(folder: Path) -> set[str]:
    """The names the folder's .mod files give their mechanisms."""
    pattern = re.compile(r"^\s*(?:SUFFIX|POINT_PROCESS|ARTIFICIAL_CELL)\s+(\w+)", re.MULTILINE)
    names: set[str] = set()
    for path in folder.glob("*.mod"):
        names.update(pattern.findall(path.read_text(errors="replace")))
    return names


def loaded_mechanisms() -> set[str]:
    """The names of every density mechanism and point process NEURON knows."""
    from patch import p, transform

    h = transform(p)
    names: set[str] = set()
    name = h.ref("")
    for kind in (0, 1):
        mechanisms = h.MechanismType(kind)
        for i in range(int(mechanisms.count())):
            mechanisms.select(i)
            mechanisms.selected(name)
            names.add(name[0])
    return names


def source_hash(folder: Path) -> str:
    """A hash of the folder's sources, the NEURON version and the platform."""
    import neuron

    digest = hashlib.sha256(
        f"neuron {neuron.__version__} {sys.platform} {platform.machine()}\0".encode()
    )
    for path in sorted(folder.iterdir()):
        if path.suffix in _SOURCES and path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(folder: Path, cache: Path) -> ModBuild:
    """The library of ``folder`` from ``cache``, compiled with nrnivmodl when not there."""
    prefix = f"{folder.name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}-"
    target = cache / (prefix + source_hash(folder)[:16])
    library = find_library(target)
    if library is not None:
        return ModBuild(folder, library, compiled=False)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="." + target.name + "-", dir=cache))
    work.chmod(0o755)
    start = time.perf_counter()
    result = subprocess.run(
        [nrnivmodl(), str(folder)], cwd=work, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0 or find_library(work) is None:
        shutil.rmtree(work, ignore_errors=True)
        raise ModCompileError(compile_error_message(folder, result.stdout + result.stderr))
    try:
        work.rename(target)
    except OSError:  # another process finished the same build first: use theirs
        shutil.rmtree(work, ignore_errors=True)
    for stale in cache.glob(prefix + "*"):
        if stale != target and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    library = find_library(target)
    assert library is not None
    return ModBuild(folder, library, compiled=True, seconds=seconds)


def find_library(directory: Path) -> Path | None:
    """The mechanism library nrnivmodl built under ``directory``, if any."""
    if not directory.is_dir():
        return None
    for name in _LIBRARIES:
        for pattern in (f"*/{name}", f"*/.libs/{name}"):
            for found in sorted(directory.glob(pattern)):
                return found
    return None


def nrnivmodl() -> str:
    """The ``nrnivmodl`` of the running Python's NEURON (next to it, else on ``PATH``)."""
    beside = Path(sys.executable).with_name("nrnivmodl")
    if beside.exists():
        return str(beside)
    found = shutil.which("nrnivmodl")
    if found is None:
        raise ModCompileError(
            "nrnivmodl was not found next to the Python running pytest nor on PATH; "
            "install NEURON (pip install neuron) in this environment."
        )
    return found


def compile_error_message(folder: Path, output: str) -> str:
    """nrnivmodl's output, trimmed, naming the .mod files the errors mention."""
    output = _ANSI.sub("", output).split("Traceback (most recent call last):", 1)[0]
    lines = [line for line in output.splitlines() if line.strip()]
    stems = {path.stem for path in folder.glob("*.mod")}
    failing = sorted(
        {
            f"{match}.mod"
            for line in lines
            if re.search(r"error|illegal", line, re.IGNORECASE)
            for match in re.findall(r"([\w.-]+?)\.(?:mod|cpp|c|o)\b", line)
            if match in stems
        }
    )
    where = f" ({', '.join(failing)})" if failing else ""
    shown = lines[-40:]
    return (
        f"nrnivmodl could not compile the mod folder {folder}{where}:\n"
        + "\n".join("    " + line for line in shown)
    )


class _BuildReport:
    """Says in the session header which mod folders were compiled or taken from the cache."""

    def __init__(self, builds: list[ModBuild]) -> None:
        self._builds = builds

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = []
        for build in self._builds:
            how = f"compiled in {build.seconds:.1f} s" if build.compiled else "cached"
            lines.append(f"nrn mods: {build.folder} -> {build.library} ({how})")
        return lines
