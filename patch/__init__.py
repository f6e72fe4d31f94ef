"""Patch: a Pythonic, reference-safe layer over the NEURON simulator.

``from patch import p`` and use ``p`` wherever you used ``neuron.h``. Objects made
through ``p`` keep alive everything they depend on, accept sections where NEURON wants a
segment or a pointer, and raise :class:`~patch.exceptions.PatchError` instead of failing
silently. Under ``mpiexec`` NEURON and mpi4py share one MPI world with no set-up.

Importing ``patch`` (or ``patch.exceptions``) starts nothing: NEURON, and MPI when an
MPI launcher started the process, start on first use of a name that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import exceptions
from ._launcher import launched_by_mpi, launcher_rank
from .exceptions import PatchError

__version__ = "1.0.0"

if TYPE_CHECKING:
    from ._clamps import iclamp, vclamp
    from ._graph import references
    from ._interpreter import PythonHocInterpreter, p
    from ._inventory import live_objects
    from ._mechanisms import is_point_process, point_processes
    from ._mods import MechanismBuild, load_mechanisms
    from ._netcon import NetCon
    from ._parallel import SPIKE_DTYPE, ParallelContext, SpikeRecorder
    from ._point_process import PointProcess
    from ._section import Section, SectionRef
    from ._transform import is_pointer, transform
    from ._vector import Vector

# Names that need NEURON, and the module that defines each; imported on first use.
_LAZY = {
    "p": "_interpreter",
    "PythonHocInterpreter": "_interpreter",
    "transform": "_transform",
    "is_pointer": "_transform",
    "is_point_process": "_mechanisms",
    "point_processes": "_mechanisms",
    "references": "_graph",
    "live_objects": "_inventory",
    "load_mechanisms": "_mods",
    "MechanismBuild": "_mods",
    "iclamp": "_clamps",
    "vclamp": "_clamps",
    "Section": "_section",
    "SectionRef": "_section",
    "Vector": "_vector",
    "NetCon": "_netcon",
    "PointProcess": "_point_process",
    "ParallelContext": "_parallel",
    "SpikeRecorder": "_parallel",
    "SPIKE_DTYPE": "_parallel",
}

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
    "launcher_rank",
    "load_mechanisms",
    "MechanismBuild",
    "iclamp",
    "vclamp",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'patch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
