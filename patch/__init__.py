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
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import exceptions
from ._launcher import launched_by_mpi, launcher_rank, serial_environment
from .exceptions import PatchError

__version__ = "9.0.0"

if TYPE_CHECKING:
    from ._clamps import iclamp, vclamp
    from ._graph import references
    from ._interpreter import PythonHocInterpreter, p
    from ._inventory import live_objects
    from ._mechanisms import is_point_process, point_processes
    from ._mods import (
        MechanismBuild,
        build_for_coreneuron,
        clear_mod_cache,
        coreneuron_unavailable,
        load_mechanisms,
    )
    from ._simulation import follow_cvode
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
    "follow_cvode": "_simulation",
    "load_mechanisms": "_mods",
    "build_for_coreneuron": "_mods",
    "coreneuron_unavailable": "_mods",
    "clear_mod_cache": "_mods",
    "has_display": "_display",
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
    "follow_cvode",
    "launched_by_mpi",
    "launcher_rank",
    "serial_environment",
    "load_mechanisms",
    "build_for_coreneuron",
    "coreneuron_unavailable",
    "clear_mod_cache",
    "has_display",
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


# nrn-patch 8's names that Patch 9 renamed or removed (docs/migrating.md). A renamed name
# maps to (its replacement, "module:attribute" that gives it) and keeps working with a
# DeprecationWarning; a removed one maps to (why, and what to write instead; None).
_TRANSFORMS_REMOVED = (
    "Patch resolves sections, segments and the duck-typing hooks (__arc__, __netcon__, "
    "__record__) inside every call, so hand the object itself to p.NetCon, "
    "Vector.record or a point process; patch.transform(obj) gives the NEURON object."
)
_RETIRED: dict[str, tuple[str, str | None]] = {
    "h": ("patch.p", "patch._interpreter:p"),
    "NotConnectableError": (
        "patch.exceptions.NotConnectableError", "patch.exceptions:NotConnectableError"
    ),
    "is_nrn_scalar": ("patch.is_pointer", "patch._transform:is_pointer"),
    "is_section": (
        "isinstance(patch.transform(obj), neuron.nrn.Section)", "patch.core:_is_section"
    ),
    "is_segment": (
        "isinstance(patch.transform(obj), neuron.nrn.Segment)", "patch.core:_is_segment"
    ),
    "connection": (
        "Patch keeps no _connections table. The NetCons between two objects are "
        "[nc for nc in patch.references(target) if isinstance(nc, patch.NetCon) "
        "and nc.pre() is source] (for a section source, nc.preseg().sec is source).",
        None,
    ),
    "NotConnectedError": ("it went with patch.connection (see there).", None),
    "transform_arc": (_TRANSFORMS_REMOVED, None),
    "transform_netcon": (_TRANSFORMS_REMOVED, None),
    "transform_record": (_TRANSFORMS_REMOVED, None),
    "is_density_mechanism": (
        "section.insert(name) raises UnknownMechanismError naming close matches; "
        "isinstance(obj, neuron.nrn.Mechanism) tells a mechanism of a segment.",
        None,
    ),
}


def _retired(module: str, name: str, fates: Mapping[str, tuple[str, str | None]]) -> Any:
    """nrn-patch 8's ``module.name``: its replacement, with a ``DeprecationWarning`` that
    names it, or an ``UnknownAttributeError`` that says why it is gone.

    For the ``__getattr__`` of ``patch`` and of the old modules (``patch.objects``, ...);
    the warning is attributed to the line that used the old name.
    """
    fate = fates.get(name)
    if fate is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    replacement, where = fate
    if where is None:
        raise exceptions.UnknownAttributeError(
            f"{module}.{name} (nrn-patch 8) was removed in Patch 9: {replacement} "
            "See docs/migrating.md."
        )
    warnings.warn(
        f"{module}.{name} is nrn-patch 8's name; use {replacement} instead "
        "(see docs/migrating.md).",
        DeprecationWarning,
        stacklevel=3,
    )
    source, _, path = where.partition(":")
    value: Any = importlib.import_module(source)
    for part in path.split("."):
        value = getattr(value, part)
    return value


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        return _retired("patch", name, _RETIRED)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
