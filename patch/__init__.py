"""Patch: a Pythonic, reference-safe layer over the NEURON simulator.

``from patch import p`` and use ``p`` wherever you used ``neuron.h``. Objects made
through ``p`` keep alive everything they depend on, accept sections where NEURON wants a
segment or a pointer, and raise :class:`~patch.exceptions.PatchError` instead of failing
silently. Under ``mpiexec`` NEURON and mpi4py share one MPI world with no set-up.

Importing ``patch`` (or ``patch.exceptions``) starts nothing: NEURON, and MPI when an
MPI launcher started the process, start on first use of a name that needs them.

Patch 9 succeeds nrn-patch 8: its old names (``patch.h``, ``patch.NotConnectableError``,
the modules ``patch.objects``, ``patch.core``, ...) give their replacement with a
``DeprecationWarning``, or raise an error saying what replaced them (docs/migrating.md).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import exceptions
from ._compat import RETIRED as _RETIRED, retired as _retired
from ._launcher import launched_by_mpi, launcher_rank, serial_environment
from ._public import public_names as _public_names
from .exceptions import PatchError

__version__ = "9.0.0"

_PUBLIC = _public_names()
# Names that need NEURON (all but the few imported above), imported on first use.
_LAZY = {name: module for name, module in _PUBLIC.items() if name not in globals()}
__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        return _retired("patch", name, _RETIRED)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
