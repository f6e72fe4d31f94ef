"""nrn-patch 8's ``patch.objects`` (its wrapper classes), for code not yet migrated.

Patch 9 has no wrapper classes: its objects are NEURON's own, subclassed. Each old class
name with a counterpart gives that class (so ``from patch.objects import Section`` and
``isinstance(s, Section)`` keep working), with a ``DeprecationWarning`` naming the new
name; the others raise an ``UnknownAttributeError`` saying why they are gone.
docs/migrating.md lists every name.
"""

from __future__ import annotations

from typing import Any

from ._compat import retired as _retired

_NO_WRAPPERS = (
    "Patch objects are NEURON objects (subclasses of NEURON's classes), so there is no "
    "wrapper base class: patch.transform(obj) gives the NEURON object of anything, and "
    "isinstance(obj, neuron.hoc.HocObject) tells a hoc object."
)
_NEURON_ATTRIBUTES = (
    "attributes of Patch's point processes and segments are NEURON's own (syn.e is a "
    "float); record syn._ref_e, as with NEURON."
)
_FATES: dict[str, tuple[str, str | None]] = {
    "Section": ("patch.Section", "patch._section:Section"),
    "SectionRef": ("patch.SectionRef", "patch._section:SectionRef"),
    "Vector": ("patch.Vector", "patch._vector:Vector"),
    "NetCon": ("patch.NetCon", "patch._netcon:NetCon"),
    "PointProcess": (
        "patch.PointProcess (the base of p.ExpSyn, p.IClamp, ...: test with isinstance)",
        "patch._point_process:PointProcess",
    ),
    "NetStim": ("p.NetStim", "patch._interpreter:p.NetStim"),
    "IClamp": ("p.IClamp", "patch._interpreter:p.IClamp"),
    "SEClamp": ("p.SEClamp", "patch._interpreter:p.SEClamp"),
    "Segment": (
        "neuron.nrn.Segment (Patch hands out NEURON's own segments)",
        "patch._boot:nrn.Segment",
    ),
    "PythonHocObject": (_NO_WRAPPERS, None),
    "Connectable": (
        "Patch keeps no _connections: patch.references(obj) gives what an object holds "
        "alive, the NetCons it is part of included.",
        None,
    ),
    "PointerWrapper": (_NEURON_ATTRIBUTES, None),
    "WrapsPointers": (_NEURON_ATTRIBUTES, None),
    "VecStim": (
        "Patch ships no .mod files: compile a VecStim mod of your own with "
        "patch.load_mechanisms(folder), then vs = p.VecStim(); vs.play(p.Vector(times)).",
        None,
    ),
}


def __getattr__(name: str) -> Any:
    return _retired(__name__, name, _FATES)
