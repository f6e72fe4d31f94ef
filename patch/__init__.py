"""Patch: a Pythonic, reference-safe layer over the NEURON simulator.

``from patch import p`` and use ``p`` wherever you used ``neuron.h``. Objects made
through ``p`` keep alive everything they depend on, accept sections where NEURON wants a
segment or a pointer, and raise :class:`~patch.exceptions.PatchError` instead of failing
silently. Under ``mpiexec`` NEURON and mpi4py share one MPI world with no set-up.
"""

from __future__ import annotations

from . import exceptions
from ._interpreter import PythonHocInterpreter, p
from ._inventory import live_objects
from ._mpi import launched_by_mpi
from ._objects import (
    NetCon,
    PointProcess,
    Section,
    SectionRef,
    Vector,
    is_point_process,
    point_processes,
)
from ._parallel import SPIKE_DTYPE, ParallelContext, SpikeRecorder
from ._refs import references
from ._transform import is_pointer, transform
from .exceptions import PatchError

__version__ = "1.0.0"

__all__ = [
    "p",
    "PythonHocInterpreter",
    "transform",
    "is_pointer",
    "is_point_process",
    "point_processes",
    "references",
    "live_objects",
    "launched_by_mpi",
    "exceptions",
    "PatchError",
    "Section",
    "Vector",
    "NetCon",
    "PointProcess",
    "SectionRef",
    "ParallelContext",
    "SpikeRecorder",
    "SPIKE_DTYPE",
]
