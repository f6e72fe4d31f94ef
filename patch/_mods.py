"""Compiled mechanisms: a mod folder built once with ``nrnivmodl`` and loaded everywhere.

Each folder is built into a cache directory (``.nrn-mod-cache/`` by default) named after a
hash of its sources, the NEURON version and the platform, so an unchanged folder is never
rebuilt, in a script or in a test session alike. Under MPI, rank 0 builds while the other
ranks wait for its verdict; every rank then loads the library. A rank that cannot see
rank 0's build (no shared file system) builds its own copy.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from . import _mechanisms
from ._boot import h, neuron_version, world
from ._parallel import context
from .exceptions import MechanismError, ModCompileError

CACHE_DIR = ".nrn-mod-cache"
# Files nrnivmodl reads from a mod folder: the mechanisms, what they include, C/C++ helpers.
_SOURCES = frozenset({".mod", ".inc", ".h", ".hpp", ".c", ".cpp"})
_LIBRARIES = ("libnrnmech.so", "libnrnmech.dylib", "nrnmech.dll")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Libraries loaded into this process; NEURON cannot load one twice.
_loaded: set[str] = set()
# The build loaded for each source hash: the same sources are never loaded twice.
_sources: dict[str, MechanismBuild] = {}
# CoreNEURON libraries this process chose (CoreNEURON loads one).
_coreneuron_libraries: set[str] = set()


@dataclass(frozen=True)
class MechanismBuild:
    """A mod folder and the compiled library loaded for it."""

    #: The name of the cache folder (the plugin keeps its own in the rootdir).
    CACHE_DIR: ClassVar[str] = CACHE_DIR

    folder: Path
    library: Path
    #: Whether this call compiled it (``False``: found in the cache).
    compiled: bool
    seconds: float = 0.0


def load_mechanisms(
    folder: str | Path, *, cache: str | Path | None = None, coreneuron: bool = False
) -> MechanismBuild:
    """Compile the ``.mod`` files of ``folder`` (cached by content) and load them.

    - ``folder``: a folder of ``.mod`` files (with what they include), relative to the
      working directory (``Path(__file__).parent / "mod"`` works from anywhere);
    - ``cache``: where builds are kept; by default ``.nrn-mod-cache`` in the project the
      folder belongs to (the nearest folder above it with a ``pyproject.toml``,
      ``pytest.ini``, ``setup.cfg``, ``tox.ini`` or ``.git``, else its parent), which is
      where the pytest plugin keeps it too when it runs from that project.

    Collective under MPI: call it on every rank. A compile error raises
    ``ModCompileError`` with nrnivmodl's message on every rank; loading the same folder
    again does nothing. Point processes of the folder then appear on ``p``
    (``p.MySynapse``). Needs a C compiler, as ``nrnivmodl`` does. ``coreneuron=True``
    compiles the folder for CoreNEURON as well (``nrnivmodl -coreneuron``, cached apart),
    so that runs with ``p.coreneuron.enable = True`` can use it; NEURON and CoreNEURON
    must load the same build, so the choice is made at the first load.

    >>> build = patch.load_mechanisms("mod")
    >>> syn = p.MySynapse(p.Section())
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"load_mechanisms: the mod folder {folder} does not exist.")
    if not any(folder.glob("*.mod")):
        raise FileNotFoundError(f"load_mechanisms: {folder} contains no .mod files.")
    cache = Path(cache).resolve() if cache is not None else default_cache(folder)
    digest = source_hash(folder)
    if digest in _sources:  # the same sources are loaded already (from any cache)
        loaded = _sources[digest]
        if coreneuron and find_coreneuron_library(loaded.library.parent.parent) is None:
            raise MechanismError(
                f"The mechanisms of {folder} are loaded already, compiled without CoreNEURON, "
                "and NEURON cannot load them twice. Load them with coreneuron=True first "
                "(the pytest plugin: nrn_coreneuron = true in pytest.ini)."
            )
        return loaded
    pc = context()
    outcome: MechanismBuild | str | None = None
    if pc.rank == 0:
        outcome = _try_build(folder, cache, coreneuron)
    if pc.size > 1:
        _barrier()
    outcome = pc.broadcast(outcome, root=0)
    if isinstance(outcome, str):
        raise ModCompileError(outcome)
    assert isinstance(outcome, MechanismBuild)
    if not outcome.library.exists():
        # This rank does not share rank 0's file system: build a copy of its own.
        outcome = _try_build(folder, cache, coreneuron)
    failure = outcome if isinstance(outcome, str) else None
    if isinstance(outcome, MechanismBuild):
        try:
            _load(outcome.library, folder)
        except MechanismError as error:
            failure = str(error)
    failures: dict[str, list[int]] = {}
    for rank, message in enumerate(pc.allgather(failure)):
        if message:
            failures.setdefault(message, []).append(rank)
    if failures:
        if pc.size == 1:
            raise MechanismError(failure)
        raise MechanismError(
            "\n".join(
                f"rank{'s' * (len(ranks) > 1)} {', '.join(map(str, ranks))}: {message}"
                for message, ranks in failures.items()
            )
        )
    assert isinstance(outcome, MechanismBuild)
    _sources[digest] = outcome
    if coreneuron:
        _use_for_coreneuron(outcome)
    return outcome


#: Files that mark the top of a project (where pytest's rootdir usually is).
_PROJECT_MARKERS = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", ".git")


def default_cache(folder: Path) -> Path:
    """``.nrn-mod-cache`` in the project ``folder`` belongs to (see :func:`load_mechanisms`)."""
    for parent in folder.parents:
        if any((parent / marker).exists() for marker in _PROJECT_MARKERS):
            return parent / CACHE_DIR
    return folder.parent / CACHE_DIR


def _barrier() -> None:
    """Wait for every rank without spinning, so rank 0 has the cores to compile."""
    assert world is not None
    request = world.Ibarrier()
    while not request.Test():
        time.sleep(0.02)


def _try_build(folder: Path, cache: Path, coreneuron: bool = False) -> MechanismBuild | str:
    try:
        return build(folder, cache, coreneuron)
    except ModCompileError as error:
        return str(error)
    except Exception as error:  # reported on every rank instead of leaving them waiting
        return f"Could not build the mod folder {folder}: {type(error).__name__}: {error}"


def _load(library: Path, folder: Path) -> None:
    """Load the library compiled from ``folder`` into NEURON, once per process."""
    key = str(library)
    if key in _loaded:
        return
    # NEURON answers a name clash with an error that aborts an MPI run: check first.
    clashes = sorted(_mechanisms.mechanism_names(folder) & _mechanisms.loaded_names())
    if clashes:
        raise MechanismError(
            f"NEURON already has mechanisms named {', '.join(clashes)}, so the ones compiled "
            f"from {folder} cannot be loaded. NEURON probably loaded an older build by "
            "itself: at import it loads the x86_64 (or arm64) folder that nrnivmodl leaves "
            "in the current directory. Delete that folder, or run from another directory."
        )
    try:
        loaded = h.nrn_load_dll(key)
    except RuntimeError as error:
        raise MechanismError(
            f"NEURON could not load the mechanisms compiled at {library}: {error}"
        ) from error
    if not loaded:
        raise MechanismError(f"NEURON could not load the mechanisms compiled at {library}.")
    _mechanisms.add_mod_folder(folder)
    _loaded.add(key)


def source_hash(folder: Path) -> str:
    """A hash of the folder's sources, the NEURON version and the platform."""
    digest = hashlib.sha256(
        f"neuron {neuron_version} {sys.platform} {platform.machine()}\0".encode()
    )
    for path in sorted(folder.iterdir()):
        if path.suffix in _SOURCES and path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(folder: Path, cache: Path, coreneuron: bool = False) -> MechanismBuild:
    """The library of ``folder`` from ``cache``, compiled with nrnivmodl when not there
    (``coreneuron``: with ``nrnivmodl -coreneuron``, for CoreNEURON's library)."""
    kind = "-coreneuron" if coreneuron else ""
    prefix = f"{folder.name}{kind}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}-"
    target = cache / (prefix + source_hash(folder)[:16])
    def find(directory: Path) -> Path | None:
        if coreneuron and find_coreneuron_library(directory) is None:
            return None
        return find_library(directory)

    library = find(target)
    if library is not None:
        return MechanismBuild(folder, library, compiled=False)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="." + target.name + "-", dir=cache))
    work.chmod(0o755)
    start = time.perf_counter()
    command = [nrnivmodl(), *(["-coreneuron"] if coreneuron else []), str(folder)]
    result = subprocess.run(
        command, cwd=work, env=_nrnivmodl_environment(), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0 or find(work) is None:
        shutil.rmtree(work, ignore_errors=True)
        raise ModCompileError(compile_error_message(folder, result.stdout + result.stderr))
    try:
        work.rename(target)
    except OSError:  # another process finished the same build first: use theirs
        shutil.rmtree(work, ignore_errors=True)
    for stale in cache.glob(prefix + "*"):
        if stale != target and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    library = find(target)
    assert library is not None
    return MechanismBuild(folder, library, compiled=True, seconds=seconds)


def _nrnivmodl_environment() -> dict[str, str]:
    """This process's environment, less an ``NMODLHOME`` that points nowhere.

    Importing ``neuron.nmodl`` sets ``NMODLHOME`` to a folder without NMODL's unit
    library; nrnivmodl would pass it on, and ``-coreneuron`` builds then fail with "Could
    not find nrnunits.lib". Without it, nrnivmodl sets the right one itself.
    """
    env = dict(os.environ)
    home = env.get("NMODLHOME")
    if home is not None and not (Path(home) / "share" / "nmodl" / "nrnunits.lib").exists():
        del env["NMODLHOME"]
    return env


def find_library(directory: Path) -> Path | None:
    """The mechanism library nrnivmodl built under ``directory``, if any."""
    if not directory.is_dir():
        return None
    for name in _LIBRARIES:
        for pattern in (f"*/{name}", f"*/.libs/{name}"):
            for found in sorted(directory.glob(pattern)):
                return found
    return None


def find_coreneuron_library(directory: Path) -> Path | None:
    """CoreNEURON's mechanism library that ``nrnivmodl -coreneuron`` built, if any."""
    if not directory.is_dir():
        return None
    return next(iter(sorted(directory.glob("*/libcorenrnmech.*"))), None)


def _use_for_coreneuron(loaded: MechanismBuild) -> None:
    """Make CoreNEURON load the library built beside ``loaded`` (it loads one of its own
    when a run starts; NEURON and it must come from the same build)."""
    core = find_coreneuron_library(loaded.library.parent.parent)
    assert core is not None
    chosen = os.environ.get("CORENEURONLIB")
    if chosen and chosen != str(core) and chosen in _coreneuron_libraries:
        raise MechanismError(
            f"CoreNEURON loads one mechanism library, and {chosen} (another mod folder) is "
            f"chosen already: put the .mod files of {loaded.folder} and that folder in one folder."
        )
    os.environ["CORENEURONLIB"] = str(core)
    _coreneuron_libraries.add(str(core))


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


