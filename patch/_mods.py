"""Compiled mechanisms: a mod folder built once with ``nrnivmodl`` and loaded everywhere.

Each folder is built into a cache directory (``.nrn-mod-cache/`` by default) named after a
hash of its sources, the NEURON version and the platform, so an unchanged folder is never
rebuilt, in a script or in a test session alike, nor when its project moves (another
checkout, a CI workspace at another path): a build of the same sources is found whatever
folder it was made for. nrnivmodl compiles from paths that are the same for the same
sources and NEURON (``_build_paths``): with a compiler cache (ccache), sources compiled
before with the same NEURON, for another folder or in another environment, are fetched from
that cache instead of compiled. The last
few builds of each folder are kept (``KEEP`` per folder and kind, the least recently used
removed first), so a change undone finds its build again; a library whose bytes no longer
match what was built (a damaged cache) is rebuilt. A failed CoreNEURON build is remembered
too, so it is not retried until the sources change. Under MPI, rank 0 builds while the other
ranks wait for its verdict; every rank then loads the library. A rank that cannot see rank
0's build (no shared file system) builds its own copy.

NEURON's half of ``nrnivmodl -coreneuron`` is the very code plain ``nrnivmodl`` builds, so
a folder loaded from a plain build can get its CoreNEURON library later
(:func:`build_for_coreneuron`) from the same sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from . import _build_paths, _mechanisms
from ._boot import h, neuron_version, world
from ._parallel import context
from .exceptions import MechanismError, ModCompileError

CACHE_DIR = ".nrn-mod-cache"
#: How many builds of one folder (of each kind: NEURON, CoreNEURON) the cache keeps.
KEEP = 4
_MANIFEST = "patch-build.json"
# Files nrnivmodl reads from a mod folder: the mechanisms, what they include, C/C++ helpers.
_SOURCES = frozenset({".mod", ".inc", ".h", ".hpp", ".c", ".cpp"})
_LIBRARIES = ("libnrnmech.so", "libnrnmech.dylib", "nrnmech.dll")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A build's folder in the cache: its folder's name (and kind), a hash of the folder's path,
# a hash of the sources.
_ENTRY = re.compile(r".+-[0-9a-f]{8}-[0-9a-f]{16}")
# nrnivmodl's progress lines, which say nothing about an error.
_PROGRESS = re.compile(
    r"\s*(/\S*\.nrn-mod-cache/\S*$|cfiles =|Mod files:|Creating '|MODOBJS=|\[INFO\] Running:|"
    r"Default NMODL flags:|make: \*\*\* Waiting for unfinished jobs|"
    r"diff: \S*_mod_func\.cpp: No such)"
)
# Libraries loaded into this process; NEURON cannot load one twice.
_loaded: set[str] = set()
# The build loaded for each source hash: the same sources are never loaded twice.
_sources: dict[str, MechanismBuild] = {}
# CoreNEURON libraries this process chose (CoreNEURON loads one).
_coreneuron_libraries: set[str] = set()
# The source hash loaded for each folder.
_folders: dict[Path, str] = {}
# Loaded mechanisms CoreNEURON does not have: name -> why (its folder's CoreNEURON build).
_without_coreneuron: dict[str, str] = {}


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
    #: CoreNEURON's library of the same sources, when built (``nrnivmodl -coreneuron``).
    coreneuron_library: Path | None = None


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
    so that runs with ``p.coreneuron.enable = True`` can use it; a folder loaded without
    it gets its CoreNEURON library when asked again with ``coreneuron=True`` (or
    :func:`build_for_coreneuron`). If CoreNEURON cannot compile the folder,
    ``ModCompileError`` says so, and NEURON's build stays loaded.

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
        _folders.setdefault(folder, digest)
        if coreneuron and loaded.coreneuron_library is None:
            return build_for_coreneuron(folder, cache=cache)
        return loaded
    outcome = _build_everywhere(folder, cache, coreneuron)
    if isinstance(outcome, str):
        raise ModCompileError(_coreneuron_failure(folder, outcome) if coreneuron else outcome)
    failure: str | None = None
    try:
        _load(outcome.library, folder)
    except MechanismError as error:
        failure = str(error)
    _agree(failure)
    _sources[digest] = outcome
    _folders[folder] = digest
    if coreneuron:
        _use_for_coreneuron(outcome)
    else:
        _lacks_coreneuron(
            folder,
            f"{folder} was compiled for NEURON only (load_mechanisms without coreneuron=True)",
        )
    return outcome


def build_for_coreneuron(folder: str | Path, *, cache: str | Path | None = None) -> MechanismBuild:
    """Give a loaded mod folder its CoreNEURON library (``nrnivmodl -coreneuron`` of the same
    sources, cached), which runs with ``p.coreneuron.enable = True`` then load.

    Collective under MPI. Loads the folder first if it is not loaded. A folder CoreNEURON
    cannot compile raises ``ModCompileError`` saying that the CoreNEURON build failed
    (NEURON's build stays loaded and works); its mechanisms are then listed by
    :func:`coreneuron_unavailable`, and a CoreNEURON run of a model that uses them is
    refused before it starts (CoreNEURON would abort the process).
    """
    folder = Path(folder).resolve()
    digest = _folders.get(folder)
    if digest is None:
        return load_mechanisms(folder, cache=cache, coreneuron=True)
    loaded = _sources[digest]
    if loaded.coreneuron_library is not None:
        return loaded
    if source_hash(folder) != digest:
        message = (
            f"The .mod files of {folder} changed since NEURON loaded them, and CoreNEURON must "
            "run the sources NEURON runs: start a new process (pytest session) to use the change."
        )
        _lacks_coreneuron(folder, message)
        raise MechanismError(message)
    cache = Path(cache).resolve() if cache is not None else default_cache(folder)
    outcome = _build_everywhere(folder, cache, True)
    if isinstance(outcome, str):
        message = _coreneuron_failure(folder, outcome)
        _lacks_coreneuron(folder, message)
        raise ModCompileError(message)
    updated = replace(loaded, coreneuron_library=outcome.coreneuron_library)
    _use_for_coreneuron(updated)
    _sources[digest] = updated
    return updated


def coreneuron_unavailable(*, used: bool = False) -> dict[str, str]:
    """Loaded mechanisms that CoreNEURON does not have: name -> why (the CoreNEURON build
    of their folder failed, was never asked for, or another folder's library is
    CoreNEURON's). ``used=True``: only those the model now in NEURON uses (inserted in a
    section, or a point process that exists), which would make a CoreNEURON run abort."""
    if not used or not _without_coreneuron:
        return dict(_without_coreneuron)
    found: set[str] = set()
    for section in h.allsec():
        for segment in section:
            for mechanism in segment:
                if mechanism.name() in _without_coreneuron:
                    found.add(mechanism.name())
    points = _mechanisms.point_processes()
    for name in set(_without_coreneuron) - found:
        if name in points and int(h.List(name).count()):
            found.add(name)
    return {name: _without_coreneuron[name] for name in sorted(found)}


def clear_mod_cache(cache: str | Path) -> None:
    """Delete the builds kept in ``cache`` (a ``.nrn-mod-cache`` folder), including the
    remembered CoreNEURON failures. Collective under MPI: rank 0 deletes, all wait."""
    cache = Path(cache)
    if not cache.exists():
        return
    if cache.name != CACHE_DIR and not any(cache.glob(f"*/{_MANIFEST}")):
        raise MechanismError(
            f"clear_mod_cache: {cache} does not look like a mechanism cache ({CACHE_DIR}); "
            "nothing was deleted."
        )
    pc = context()
    if pc.rank == 0:
        shutil.rmtree(cache, ignore_errors=True)
    if pc.size > 1:
        _barrier()


def _build_everywhere(folder: Path, cache: Path, coreneuron: bool) -> MechanismBuild | str:
    """Build on rank 0 (the others wait), then on any rank that cannot see its build."""
    pc = context()
    outcome: MechanismBuild | str | None = None
    if pc.rank == 0:
        outcome = _try_build(folder, cache, coreneuron)
    if pc.size > 1:
        _barrier()
    outcome = pc.broadcast(outcome, root=0)
    if isinstance(outcome, str):
        return outcome
    assert isinstance(outcome, MechanismBuild)
    if not outcome.library.exists():
        # This rank does not share rank 0's file system: build a copy of its own.
        outcome = _try_build(folder, cache, coreneuron)
    _agree(outcome if isinstance(outcome, str) else None)
    assert isinstance(outcome, MechanismBuild)
    return outcome


def _agree(failure: str | None) -> None:
    """Raise ``MechanismError`` on every rank if any rank failed, naming the ranks."""
    pc = context()
    failures: dict[str, list[int]] = {}
    for rank, message in enumerate(pc.allgather(failure)):
        if message:
            failures.setdefault(message, []).append(rank)
    if not failures:
        return
    if pc.size == 1:
        raise MechanismError(failure)
    raise MechanismError(
        "\n".join(
            f"rank{'s' * (len(ranks) > 1)} {', '.join(map(str, ranks))}: {message}"
            for message, ranks in failures.items()
        )
    )


def _coreneuron_failure(folder: Path, message: str) -> str:
    return (
        f"The CoreNEURON build (nrnivmodl -coreneuron) of {folder} failed: CoreNEURON "
        "cannot run these mechanisms (NEURON can; its build is separate).\n" + message
    )


def _lacks_coreneuron(folder: Path, why: str) -> None:
    for name in _mechanisms.mechanism_names(folder):
        _without_coreneuron[name] = why


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
    (``coreneuron``: with ``nrnivmodl -coreneuron``, for CoreNEURON's library too).

    A cached build whose libraries are not the bytes that were built (truncated, say) is
    deleted and built again. A failed CoreNEURON build is remembered beside the builds
    and raised again, without compiling, until the sources change or the cache is cleared.
    """
    kind = "-coreneuron" if coreneuron else ""
    prefix = f"{folder.name}{kind}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}-"
    digest = source_hash(folder)
    target = cache / (prefix + digest[:16])
    failed = target.with_name(target.name + ".failed")

    def find(directory: Path) -> tuple[Path, Path | None] | None:
        core = find_coreneuron_library(directory) if coreneuron else None
        if coreneuron and core is None:
            return None
        library = find_library(directory)
        return None if library is None else (library, core)

    found = find(target) if _intact(target) else None
    if found is None:  # the same sources built from another folder (a moved or copied project)
        target, found = next(_built_elsewhere(cache, target.name[-16:], coreneuron), (target, None))
    if found is not None:
        _touch(target)
        return MechanismBuild(folder, found[0], compiled=False, coreneuron_library=found[1])
    if coreneuron and failed.is_file():
        _touch(failed)
        raise ModCompileError(
            failed.read_text()
            + f"\n    (remembered from an earlier build of the same sources: clear the cache "
            f"{cache} to try again)"
        )
    shutil.rmtree(target, ignore_errors=True)  # damaged, or half there
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="." + target.name + "-", dir=cache))
    work.chmod(0o755)
    start = time.perf_counter()
    files = sorted(path for path in folder.iterdir() if path.suffix in _SOURCES and path.is_file())
    sources = _build_paths.staged_sources(folder, digest, files, source_hash) or folder
    package = Path(sys.modules["neuron"].__file__ or "neuron").parent  # loaded by _boot
    command = [nrnivmodl(), *(["-coreneuron"] if coreneuron else []), str(sources)]
    with _build_paths.neuron_link(package) as link:
        result = subprocess.run(
            command,
            cwd=work,
            env=_nrnivmodl_environment(link, work),
            capture_output=True,
            text=True,
            check=False,
        )
    # nrnivmodl's messages name the user's folder and NEURON, not the paths compiled from.
    for compiled_from, real in ((sources, folder), (link and link / package.name, package)):
        if compiled_from is not None and compiled_from != real:
            result.stdout = result.stdout.replace(str(compiled_from), str(real))
            result.stderr = result.stderr.replace(str(compiled_from), str(real))
    seconds = time.perf_counter() - start
    built = find(work)
    if result.returncode != 0 or built is None:
        shutil.rmtree(work, ignore_errors=True)
        message = compile_error_message(folder, result.stdout + result.stderr)
        if coreneuron:
            failed.write_text(message)
            _prune(cache, prefix)
        raise ModCompileError(message)
    _write_manifest(work, [built[0], *([built[1]] if built[1] else [])])
    try:
        work.rename(target)
    except OSError:  # another process finished the same build first: use theirs
        shutil.rmtree(work, ignore_errors=True)
    _prune(cache, prefix)
    found = find(target)
    assert found is not None
    return MechanismBuild(
        folder, found[0], compiled=True, seconds=seconds, coreneuron_library=found[1]
    )


def _built_elsewhere(
    cache: Path, sources: str, coreneuron: bool
) -> Iterator[tuple[Path, tuple[Path, Path | None]]]:
    """Intact builds in ``cache`` of the sources hashed ``sources``, of this kind, made for
    any folder: a build depends on the sources, not on where their folder lies."""
    for entry in sorted(cache.glob(f"*-{sources}")):
        if entry.name.startswith(".") or not _ENTRY.fullmatch(entry.name) or not _intact(entry):
            continue
        library = find_library(entry)
        core = find_coreneuron_library(entry)
        if library is not None and (core is not None) is coreneuron:
            yield entry, (library, core)


def _digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_manifest(directory: Path, libraries: list[Path]) -> None:
    """Record the hash of each library built, to tell a damaged cache entry later."""
    digests = {str(path.relative_to(directory)): _digest_of(path) for path in libraries}
    (directory / _MANIFEST).write_text(json.dumps(digests, indent=1))


def _intact(directory: Path) -> bool:
    """Whether the build in ``directory`` has every library it had when it was built."""
    try:
        digests = json.loads((directory / _MANIFEST).read_text())
        return bool(digests) and all(
            _digest_of(directory / name) == digest for name, digest in digests.items()
        )
    except (OSError, ValueError):
        return False


def _touch(path: Path) -> None:
    """Mark a cache entry as just used (the least recently used go first)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _prune(cache: Path, prefix: str) -> None:
    """Keep the ``KEEP`` most recently used builds (and failures) of one folder and kind."""
    for suffix_is_failure in (False, True):
        entries = [
            path
            for path in cache.glob(prefix + "*")
            if not path.name.startswith(".")
            and path.name.endswith(".failed") is suffix_is_failure
            and len(path.name) - len(prefix) == 16 + 7 * suffix_is_failure
        ]
        entries.sort(key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in entries[KEEP:]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _nrnivmodl_environment(
    neuron_link: Path | None = None, work: Path | None = None
) -> dict[str, str]:
    """This process's environment, less an ``NMODLHOME`` that points nowhere, with
    ``neuron_link`` (a folder whose ``neuron`` links to this NEURON) first on
    ``PYTHONPATH``: nrnivmodl finds NEURON, and compiles with its headers, there. The
    build's folder ``work`` is ccache's base (unless the user chose one): nrnivmodl names
    the C++ files it compiles by their absolute paths, in a new folder for each build,
    which ccache then hashes relative to it.

    Importing ``neuron.nmodl`` sets ``NMODLHOME`` to a folder without NMODL's unit
    library; nrnivmodl would pass it on, and ``-coreneuron`` builds then fail with "Could
    not find nrnunits.lib". Without it, nrnivmodl sets the right one itself.
    """
    env = dict(os.environ)
    if work is not None and "CCACHE_BASEDIR" not in env:
        env["CCACHE_BASEDIR"] = str(work)
    if neuron_link is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(neuron_link), env.get("PYTHONPATH")]))
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
    """Make CoreNEURON load the library built with ``loaded`` (it loads one of its own
    when a run starts; NEURON and it must come from the same sources)."""
    core = loaded.coreneuron_library
    assert core is not None
    chosen = os.environ.get("CORENEURONLIB")
    if chosen and chosen != str(core) and chosen in _coreneuron_libraries:
        message = (
            f"CoreNEURON loads one mechanism library, and {chosen} (another mod folder) is "
            f"chosen already: put the .mod files of {loaded.folder} and that folder in one folder."
        )
        _lacks_coreneuron(loaded.folder, message)
        raise MechanismError(message)
    os.environ["CORENEURONLIB"] = str(core)
    _coreneuron_libraries.add(str(core))
    for name in _mechanisms.mechanism_names(loaded.folder):
        _without_coreneuron.pop(name, None)


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
    shown = [line for line in lines if not _PROGRESS.match(line)][-40:]
    return f"nrnivmodl could not compile the mod folder {folder}{where}:\n" + "\n".join(
        "    " + line for line in shown
    )
