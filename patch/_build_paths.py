"""Where nrnivmodl compiles from: paths that are the same for the same inputs.

A compiler cache (ccache) recognises a compilation it has made before by the code and the
paths the compiler sees. nrnivmodl writes the .mod files' paths into the C++, and passes
the path of NEURON's headers, which lies in the Python environment. So Patch gives it
paths that depend only on what they hold, in a private temporary folder of the user:

* a copy of a mod folder's sources, named after their hash, so the same sources compile
  to the same C++ wherever their folder lies;
* a link to the running NEURON, named after what its installation holds (the hashes its
  package records), so the same NEURON release in another environment (another checkout,
  a tox or nox environment, a CI workspace at another path) compiles with the same paths.
  A link that leads to a NEURON with the same content is left as it is, whichever
  environment it lies in: a build reads headers through it all along, and headers read
  partly from one installation and partly from another would be two copies of each to
  the compiler. Only a link that leads nowhere (its environment deleted) or to other
  content is pointed at the running NEURON, and only while no build uses it.
  CoreNEURON's half of a ``-coreneuron`` build resolves links and uses the installation's
  own path.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# A file a .mod file includes: NMODL's INCLUDE, or a C/C++ #include "..." in VERBATIM.
_INCLUDED = re.compile(r'(?:\bINCLUDE|#\s*include)\s*"([^"]+)"')


def private_root() -> Path | None:
    """The user's private temporary folder for build paths (mode 0700), or ``None`` when
    it cannot be had or is not the user's own (what it holds could not be trusted)."""
    if not hasattr(os, "getuid"):
        return None
    root = Path(tempfile.gettempdir()) / f"patch-mod-sources-{os.getuid()}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        if root.is_symlink() or root.stat().st_uid != os.getuid():
            return None
    except OSError:
        return None
    return root


def staged_sources(
    folder: Path, digest: str, files: list[Path], source_hash: Callable[[Path], str]
) -> Path | None:
    """The folder's source ``files``, copied (once) to the private folder under their hash
    ``digest`` (``source_hash`` of the folder). ``None``, to compile from the folder
    itself, when a .mod file includes a file that only the folder has (by a relative path,
    or one that is not a source), or the private folder cannot be had."""
    names = {path.name for path in files}
    for path in files:
        if path.suffix == ".mod":
            for included in _INCLUDED.findall(path.read_text(errors="replace")):
                if included.startswith("/") or included in names:
                    continue  # the same file from the copy
                if "/" in included or (folder / included).exists():
                    return None  # only the folder has it
    root = private_root()
    if root is None:
        return None
    try:
        staged = root / digest
        if staged.is_dir() and source_hash(staged) == digest:
            return staged
        shutil.rmtree(staged, ignore_errors=True)  # damaged (a cleaner of old temporary files)
        copy = Path(tempfile.mkdtemp(prefix=".", dir=root))
        for path in files:
            shutil.copyfile(path, copy / path.name)
        try:
            copy.rename(staged)
        except OSError:  # copied by another process meanwhile
            shutil.rmtree(copy, ignore_errors=True)
        return staged if source_hash(staged) == digest else None
    except OSError:
        return None


def _record_key(package: Path) -> str | None:
    """A hash of what the installation of the NEURON ``package`` holds: the file hashes its
    distribution recorded for the package's own files (the same in every environment the
    same wheel was installed into). ``None`` for a NEURON not installed from a wheel, or
    no longer there."""
    if not (package / ".data" / "include").is_dir():
        return None
    for record in sorted(package.parent.glob("neuron*.dist-info/RECORD")):
        try:
            lines = record.read_text().splitlines()
        except OSError:
            continue
        entries = sorted(
            line for line in lines if line.startswith(f"{package.name}/") and ",sha256=" in line
        )
        if any(line.startswith(f"{package.name}/__init__.py,") for line in entries):
            return hashlib.sha256("\n".join(entries).encode()).hexdigest()
    return None


#: The running NEURON's key (its installation does not change while it runs).
_installation_key = functools.cache(_record_key)


def _leads_to(link: Path, key: str) -> bool:
    """Whether ``link`` leads to a NEURON installation whose content has hash ``key``."""
    try:
        return link.is_symlink() and _record_key(Path(os.readlink(link))) == key
    except OSError:
        return False


@contextlib.contextmanager
def neuron_link(package: Path) -> Iterator[Path | None]:
    """For one build: a folder in the private folder whose ``neuron`` links to a NEURON
    with the content of ``package``, named after that content. nrnivmodl run with this
    folder first on ``PYTHONPATH`` compiles with NEURON's headers under this path.

    The build holds the link (a shared lock) until the block ends: it is pointed at
    ``package`` only when it leads to no NEURON with this content, and only while no other
    build holds it. ``None`` when the installation cannot be told apart from others (not a
    wheel) or the private folder cannot be had.
    """
    key = _installation_key(package)
    root = private_root()
    if key is None or root is None:
        yield None
        return
    home = root / f"neuron-{key[:16]}"
    link = home / package.name
    try:
        home.mkdir(mode=0o700, exist_ok=True)
        lock = open(home / ".lock", "a")  # closed below, which unlocks it
    except OSError:
        yield None
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
            usable = _leads_to(link, key)
            if not usable:
                fcntl.flock(lock, fcntl.LOCK_EX)  # once the builds through the link are done
                usable = _leads_to(link, key) or _point(link, package)
                fcntl.flock(lock, fcntl.LOCK_SH)
        except OSError:  # a file system without locks: compile where NEURON is
            usable = False
        yield home if usable else None


def _point(link: Path, package: Path) -> bool:
    """Point ``link`` at ``package`` (atomically); whether it could be done."""
    fresh = link.with_name(f".link-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.symlink(package, fresh)
        os.replace(fresh, link)
    except OSError:
        fresh.unlink(missing_ok=True)
        return False
    return True
