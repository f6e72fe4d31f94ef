# The public names of `patch`: the one table. Type checkers read it as the package's
# interface, and `__init__.py` reads it at import to know which module defines each name
# (imported on first use, as most of them start NEURON).
from . import exceptions as exceptions
from ._clamps import iclamp as iclamp, vclamp as vclamp
from ._display import has_display as has_display
from ._graph import references as references
from ._interpreter import PythonHocInterpreter as PythonHocInterpreter, p as p
from ._inventory import live_objects as live_objects
from ._launcher import (
    launched_by_mpi as launched_by_mpi,
    launcher_rank as launcher_rank,
    serial_environment as serial_environment,
)
from ._mechanisms import is_point_process as is_point_process, point_processes as point_processes
from ._mods import (
    MechanismBuild as MechanismBuild,
    build_for_coreneuron as build_for_coreneuron,
    clear_mod_cache as clear_mod_cache,
    coreneuron_unavailable as coreneuron_unavailable,
    load_mechanisms as load_mechanisms,
)
from ._netcon import NetCon as NetCon
from ._parallel import (
    SPIKE_DTYPE as SPIKE_DTYPE,
    ParallelContext as ParallelContext,
    SpikeRecorder as SpikeRecorder,
)
from ._point_process import PointProcess as PointProcess
from ._section import Section as Section, SectionRef as SectionRef
from ._simulation import follow_cvode as follow_cvode
from ._transform import is_pointer as is_pointer, transform as transform
from ._vector import Vector as Vector
from .exceptions import PatchError as PatchError

__version__: str
