"""Start-up: MPI (when launched by one), then NEURON, joined to one world.

Importing this module starts NEURON; every module that needs NEURON imports it from here,
so nothing reaches NEURON before the MPI library is settled.

NEURON loads its MPI library with ``dlopen`` and, before searching the library path or
``MPI_LIB_NRN_PATH``, first looks for an ``MPI_Initialized`` that is already visible
process-wide. mpi4py finds an MPI on its own (the pip ``mpich`` wheel, or a system Open
MPI or MPICH on the library path) but loads it privately. So when the process was started
by an MPI launcher we let mpi4py initialise MPI, read back which ``libmpi`` it mapped (from
``/proc/self/maps``, whatever its origin) and make that very file visible process-wide:
NEURON then joins the world mpi4py started. Serial runs never touch MPI.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ._launcher import launched_by_mpi, launcher_size
from .exceptions import MPIConfigurationError

T = TypeVar("T")

_LIBRARY_VARIABLE = "MPI_LIB_NRN_PATH"
# libmpi.so.N (MPICH, Open MPI, Intel MPI, MVAPICH), libmpich*.so (Cray), libmpi_abi.so.
_MPI_LIBRARY = re.compile(r"(^|/)lib(mpi|mpich[\w-]*|mpi_abi)\.so(\.\d+)*$")
# What NEURON prints on rank 0 when it joins a world; everything else it prints is kept.
_NEURON_CHATTER = re.compile(rb"^numprocs=\d+\s*$", re.MULTILINE)


def wanted() -> bool:
    """Whether this process should join an MPI world: only when a launcher started it.

    A process no launcher started is serial, whatever MPI libraries mpi4py or NEURON
    happen to have loaded; Patch then leaves them alone.
    """
    return launched_by_mpi()


def loaded_mpi_libraries() -> list[str]:
    """Paths of the distinct MPI library files mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    found: dict[tuple[str, str], str] = {}
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not _MPI_LIBRARY.search(fields[5]):
            continue
        # (device, inode) identifies the file whatever symlink it was opened through.
        found.setdefault((fields[3], fields[4]), fields[5])
    return list(found.values())


def start_world() -> Any:
    """Initialise MPI through mpi4py and make its library the one NEURON will use.

    Returns ``mpi4py.MPI.COMM_WORLD``, or ``None`` when mpi4py is not installed (NEURON
    then searches the library path for a system MPI on its own).
    """
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    except RuntimeError as error:  # mpi4py found no MPI library it could load
        raise MPIConfigurationError(
            f"mpi4py could not load an MPI library: {error}. Install one: pip install "
            "'nrn-patch[mpich]' (the mpich wheel), pip install impi-rt, or a system Open "
            "MPI or MPICH; or tell mpi4py where it is with MPI4PY_LIBMPI=/path/to/libmpi.so."
        ) from None
    library = single_library()
    if library is not None:
        share(library)
    if "neuron" not in sys.modules:
        # NEURON joins the initialised world while it is imported and announces it.
        quietly(lambda: __import__("neuron"))
    return MPI.COMM_WORLD


def single_library() -> str | None:
    """The one MPI library in this process; ``MPIConfigurationError`` if there are several."""
    libraries = loaded_mpi_libraries()
    if len(libraries) > 1:
        raise MPIConfigurationError(
            f"Two MPI libraries are loaded in this process: {libraries}. mpi4py and "
            "NEURON each picked a different one, so they cannot share a world. "
            f"{_LIBRARY_VARIABLE}={os.environ.get(_LIBRARY_VARIABLE, '(unset)')}. Unset "
            f"{_LIBRARY_VARIABLE} (Patch points NEURON at mpi4py's library itself) or set "
            "it to the library mpi4py uses, and import patch before neuron."
        )
    if libraries and os.path.basename(libraries[0]).startswith("libmpi_abi"):
        raise MPIConfigurationError(
            f"mpi4py loaded the standard-ABI MPI library {libraries[0]}, which NEURON "
            "cannot use. Make mpi4py use the implementation's own library, e.g. "
            "MPI4PY_MPIABI=mpich (or openmpi) in the environment."
        )
    return libraries[0] if libraries else None


def share(library: str) -> None:
    """Make the already loaded ``library`` visible process-wide, so NEURON picks it."""
    mode = os.RTLD_GLOBAL | getattr(os, "RTLD_NOLOAD", 0) | os.RTLD_NOW
    try:
        ctypes.CDLL(library, mode=mode)
    except OSError as error:
        raise MPIConfigurationError(
            f"Could not share the MPI library {library} that mpi4py loaded with NEURON: "
            f"{error}. Set {_LIBRARY_VARIABLE}={library} and import patch before neuron."
        ) from None
    os.environ.setdefault(_LIBRARY_VARIABLE, library)


def quietly(function: Callable[[], T]) -> tuple[T, str]:
    """Call ``function`` without NEURON's ``numprocs=N`` line on stdout.

    Returns the function's result and whatever else was printed (also passed on to
    stdout), so a caller can quote NEURON's own explanation in an error.
    """
    import tempfile  # only under MPI: not worth its import time in every serial run

    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        try:
            result = function()
        finally:
            libc.fflush(None)
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            captured.seek(0)
            text = _NEURON_CHATTER.sub(b"", captured.read()).lstrip(b"\n")
            if text:
                os.write(1, text)
    return result, text.decode(errors="replace").strip()


def mismatch_message(
    neuron_size: int,
    neuron_rank: int,
    mpi_size: int | None,
    mpi_rank: int | None,
    neuron_said: str = "",
) -> str:
    """Explain a world on which NEURON and mpi4py (or the launcher) disagree."""
    other = (
        f"mpi4py sees size {mpi_size} (rank {mpi_rank})"
        if mpi_rank is not None
        else f"the launcher started {mpi_size} ranks"
    )
    said = f" NEURON said: {neuron_said}" if neuron_said else ""
    return (
        f"NEURON sees an MPI world of size {neuron_size} (rank {neuron_rank}) but {other}. "
        f"MPI libraries loaded in this process: {loaded_mpi_libraries() or 'none found'}; "
        f"{_LIBRARY_VARIABLE}={os.environ.get(_LIBRARY_VARIABLE, '(unset)')}; "
        f"NEURON_INIT_MPI={os.environ.get('NEURON_INIT_MPI', '(unset)')}.{said} NEURON must "
        "load the same libmpi as mpi4py: import patch before anything calls "
        "h.nrnmpi_init(), and if you set MPI_LIB_NRN_PATH yourself, point it at the "
        "library listed above (or unset it)."
    )


def _join(world: Any) -> None:
    """Join NEURON to the world mpi4py started, and check that they agree."""
    from neuron import h

    if world is None and not launched_by_mpi():
        return
    expected = world.Get_size() if world is not None else launcher_size()
    said = ""
    context = h.ParallelContext()
    if context.nhost() == 1 and (expected is None or expected > 1):
        # NEURON was imported before Patch: it has no world yet, so join mpi4py's. A
        # second MPI library in the process would make NEURON start another one.
        library = single_library() if world is not None else None
        if library is not None:
            share(library)
        _, said = quietly(h.nrnmpi_init)
        context = h.ParallelContext()
    size, rank = int(context.nhost()), int(context.id())
    mpi_rank = world.Get_rank() if world is not None else None
    if (expected is not None and size != expected) or (mpi_rank is not None and rank != mpi_rank):
        raise MPIConfigurationError(mismatch_message(size, rank, expected, mpi_rank, said))
    if size > 1:
        # Under MPI, NEURON answers any hoc error with MPI_Abort (exit 255 on every rank,
        # no traceback); make it the Python exception it is in a serial run.
        context.mpiabort_on_error(0)


# MPI must be set up before NEURON loads; graphics off unless there is a display to use.
# Only for this NEURON: a process started from this one (a script, a child run) decides
# for itself, with the display it is given.
_NO_GUI = "DISPLAY" not in os.environ and "NEURON_MODULE_OPTIONS" not in os.environ
if _NO_GUI:
    os.environ["NEURON_MODULE_OPTIONS"] = "-nogui"
#: mpi4py's COMM_WORLD when this process is part of an MPI world, else ``None``.
world = start_world() if wanted() else None

from neuron import (  # noqa: E402
    HocBaseObject,
    __version__ as neuron_version,
    coreneuron,
    h,
    hoc,
    nrn,
)

if _NO_GUI:
    del os.environ["NEURON_MODULE_OPTIONS"]

_join(world)

__all__ = ["HocBaseObject", "coreneuron", "h", "hoc", "nrn", "neuron_version", "world"]
