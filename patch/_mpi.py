"""Make NEURON and mpi4py share one MPI world, with no step left to the user.

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
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from .exceptions import MPIConfigurationError

T = TypeVar("T")

# Variables that MPI launchers (hydra, Open MPI, PMIx, Slurm's PMI, MVAPICH) export to ranks.
_LAUNCHER_VARIABLES = (
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "MV2_COMM_WORLD_SIZE",
    "MPI_LOCALNRANKS",
)
# The world size as the launcher announces it, where it does.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_LIBRARY_VARIABLE = "MPI_LIB_NRN_PATH"
# libmpi.so.N (MPICH, Open MPI, Intel MPI, MVAPICH), libmpich*.so (Cray), libmpi_abi.so.
_MPI_LIBRARY = re.compile(r"(^|/)lib(mpi|mpich[\w-]*|mpi_abi)\.so(\.\d+)*$")
# What NEURON prints on rank 0 when it joins a world; everything else it prints is kept.
_NEURON_CHATTER = re.compile(rb"^numprocs=\d+\s*$", re.MULTILINE)


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (``mpiexec``, ``mpirun``, ``srun``) started this process."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def launcher_size() -> int | None:
    """The number of ranks the launcher started, when it says so in the environment."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def wanted() -> bool:
    """Whether this process should join an MPI world: launched by MPI or mpi4py in use."""
    return launched_by_mpi() or "mpi4py.MPI" in sys.modules


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
            f"mpi4py could not load an MPI library: {error}. Install one (pip install "
            "mpich, or a system Open MPI/MPICH) or tell mpi4py where it is with "
            "MPI4PY_LIBMPI=/path/to/libmpi.so."
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


def mismatch_message(neuron_size: int, neuron_rank: int, mpi_size: int | None,
                     mpi_rank: int | None, neuron_said: str = "") -> str:
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
