"""Make NEURON and mpi4py share one MPI world, with no step left to the user.

NEURON loads its MPI library with ``dlopen`` when ``nrnmpi_init`` runs; the pip
``mpich`` wheel lives where NEURON does not look. mpi4py knows how to find it, so when
the process was started by an MPI launcher we let mpi4py initialise MPI first, read back
which ``libmpi`` it loaded, and point NEURON at that very file before NEURON starts MPI.
Serial runs never touch MPI.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Variables that MPI launchers (hydra, Open MPI, PMIx, Slurm's PMI, MVAPICH) export to ranks.
_LAUNCHER_VARIABLES = (
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "MV2_COMM_WORLD_SIZE",
    "MPI_LOCALNRANKS",
)
_LIBRARY_VARIABLE = "MPI_LIB_NRN_PATH"


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (``mpiexec``, ``mpirun``, ``srun``) started this process."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def wanted() -> bool:
    """Whether this process should join an MPI world: launched by MPI or mpi4py in use."""
    return launched_by_mpi() or "mpi4py.MPI" in sys.modules


def loaded_mpi_libraries() -> list[str]:
    """Paths of the MPI libraries mapped into this process (Linux ``/proc`` only)."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        path = line.rsplit(" ", 1)[-1]
        name = os.path.basename(path)
        if name.startswith(("libmpi.so", "libmpich.so", "libmpi_abi.so")) and path not in found:
            found.append(path)
    return found


def start_world() -> Any:
    """Initialise MPI through mpi4py and tell NEURON which library to load.

    Returns ``mpi4py.MPI.COMM_WORLD``, or ``None`` when mpi4py is not installed (NEURON
    then searches the library path for a system MPI on its own).
    """
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    libraries = loaded_mpi_libraries()
    if libraries and _LIBRARY_VARIABLE not in os.environ:
        os.environ[_LIBRARY_VARIABLE] = libraries[0]
    return MPI.COMM_WORLD


def mismatch_message(neuron_size: int, neuron_rank: int, comm: Any) -> str:
    """Explain a world on which NEURON and mpi4py disagree, and what to do about it."""
    return (
        f"NEURON sees an MPI world of size {neuron_size} (rank {neuron_rank}) but mpi4py "
        f"sees size {comm.Get_size()} (rank {comm.Get_rank()}). MPI libraries loaded in "
        f"this process: {loaded_mpi_libraries() or 'none found'}; "
        f"{_LIBRARY_VARIABLE}={os.environ.get(_LIBRARY_VARIABLE, '(unset)')}. NEURON "
        "must load the same libmpi as mpi4py: import patch before anything calls "
        "h.nrnmpi_init(), unset NEURON_INIT_MPI, and if you set "
        f"{_LIBRARY_VARIABLE} yourself, point it at the library listed above (or unset it)."
    )
