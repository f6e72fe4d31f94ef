"""Whether an MPI launcher started this process, read from the environment only.

The one place that knows the variables launchers set; cheap to import (no NEURON, no
MPI), so the pytest plugin can ask before anything starts.
"""

from __future__ import annotations

import os

# The rank each launcher gives its processes: hydra (MPICH, Intel MPI), PMIx (Open MPI,
# Slurm), Open MPI's own, MVAPICH.
_RANK_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
# The world size as the launcher announces it, where it does.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_OTHER_VARIABLES = ("MPI_LOCALNRANKS",)
# Prefixes of every variable through which a launcher reaches its processes.
_LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "HYDRA_", "HYDI_", "MPI_LOCAL", "PALS_")


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (``mpiexec``, ``mpirun``, ``srun``) started this process."""
    return any(name in os.environ for name in _RANK_VARIABLES + _SIZE_VARIABLES + _OTHER_VARIABLES)


def launcher_rank() -> int | None:
    """This process's rank as the launcher tells it, or ``None`` outside a launcher."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def launcher_size() -> int | None:
    """The number of ranks the launcher started, when it says so in the environment."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def serial_environment() -> dict[str, str]:
    """This process's environment without the launcher's variables: a process started
    with it is a serial one, outside this process's MPI world (and knows it)."""
    return {
        name: value for name, value in os.environ.items() if not name.startswith(_LAUNCHER_PREFIXES)
    }
