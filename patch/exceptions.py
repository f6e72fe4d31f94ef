"""Every error Patch raises; each also derives from the builtin it refines."""

from __future__ import annotations

__all__ = [
    "PatchError",
    "PatchWarning",
    "ReloadWarning",
    "SimulatorError",
    "HocError",
    "SectionAccessError",
    "DeletedSectionError",
    "NotRecordableError",
    "NotConnectableError",
    "NotAPointProcessError",
    "SegmentPositionError",
    "ParallelError",
    "MPIConfigurationError",
    "ParallelConnectError",
    "CollectiveError",
    "BroadcastError",
    "MechanismError",
    "ModCompileError",
    "ArgumentError",
    "ArgumentValueError",
    "SimulationTimeError",
    "TopologyError",
    "UnknownMechanismError",
    "UnknownAttributeError",
    "NoDisplayError",
]


class PatchError(Exception):
    """Root of every error raised by Patch."""


class PatchWarning(UserWarning):
    """Root of every warning Patch gives."""


class ReloadWarning(PatchWarning):
    """``load_file`` of a file already loaded: hoc ran none of its code."""


class SimulatorError(PatchError, RuntimeError):
    """NEURON refused an operation."""


class HocError(SimulatorError):
    """A hoc statement or call failed inside NEURON."""


class NoDisplayError(SimulatorError):
    """A graphics call (``Graph.getline``) that would crash NEURON, which has no display."""


class SectionAccessError(PatchError, RuntimeError):
    """An operation needed a section on the stack and there was none."""


class DeletedSectionError(PatchError, ReferenceError):
    """The section was deleted from NEURON and can no longer be used."""


class NotRecordableError(PatchError, TypeError):
    """The object cannot be recorded: it is not a section, segment or pointer."""


class NotConnectableError(PatchError, TypeError):
    """The object cannot be the source or the target of a NetCon."""


class NotAPointProcessError(PatchError, TypeError):
    """A point process was expected."""


class ArgumentError(PatchError, TypeError):
    """An argument of a type Patch (or NEURON) cannot use."""


class ArgumentValueError(PatchError, ValueError):
    """An argument of the right type with a value that cannot work."""


class SegmentPositionError(ArgumentValueError):
    """A position along a section was outside ``[0, 1]``."""


class SimulationTimeError(ArgumentValueError):
    """A time step, duration or time that NEURON would hang on or silently ignore."""


class TopologyError(ArgumentValueError):
    """A connection of sections that would make a loop (or join a section to itself)."""


class UnknownMechanismError(ArgumentValueError):
    """No mechanism (or point process) of that name is loaded in NEURON."""


class UnknownAttributeError(PatchError, AttributeError):
    """A keyword or attribute that the point process does not have."""


class ParallelError(PatchError, RuntimeError):
    """A parallel (MPI) operation failed."""


class MPIConfigurationError(ParallelError):
    """NEURON and mpi4py could not be made to agree on one MPI world."""


class ParallelConnectError(ParallelError, TypeError):
    """``ParallelCon`` got arguments of the wrong shape."""


class CollectiveError(ParallelError):
    """A collective (broadcast, allgather, ...) could not send one rank's data; raised on
    every rank, so that none is left waiting."""


class BroadcastError(CollectiveError):
    """A broadcast could not be performed; raised on every rank."""


class MechanismError(PatchError, RuntimeError):
    """Compiled mechanisms could not be built or loaded."""


class ModCompileError(MechanismError):
    """``nrnivmodl`` failed on a mod folder; the message carries its output."""
