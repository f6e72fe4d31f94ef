"""Every error Patch raises; each also derives from the builtin it refines."""

from __future__ import annotations

__all__ = [
    "PatchError",
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
    "BroadcastError",
    "MechanismError",
    "ModCompileError",
]


class PatchError(Exception):
    """Root of every error raised by Patch."""


class SimulatorError(PatchError, RuntimeError):
    """NEURON refused an operation."""


class HocError(SimulatorError):
    """A hoc statement or call failed inside NEURON."""


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


class SegmentPositionError(PatchError, ValueError):
    """A position along a section was outside ``[0, 1]``."""


class ParallelError(PatchError, RuntimeError):
    """A parallel (MPI) operation failed."""


class MPIConfigurationError(ParallelError):
    """NEURON and mpi4py could not be made to agree on one MPI world."""


class ParallelConnectError(ParallelError, TypeError):
    """``ParallelCon`` got arguments of the wrong shape."""


class BroadcastError(ParallelError):
    """A broadcast could not be performed; raised on every rank."""


class MechanismError(PatchError, RuntimeError):
    """Compiled mechanisms could not be built or loaded."""


class ModCompileError(MechanismError):
    """``nrnivmodl`` failed on a mod folder; the message carries its output."""
