"""What every Patch hoc object shares: it is the NEURON object, and a node of the graph."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from . import _graph
from ._boot import HocBaseObject, h, hoc

# NEURON's attribute access on an instance of a subclass of a hoc class first asks
# Python's generic lookup, which fails (an AttributeError made and dropped) for every
# NEURON variable: `ns.start = 1` costs three times what it costs on a plain hoc object.
# A plain view of the same NEURON object (what a hoc function returning its argument
# gives) reads and writes NEURON's variables at the plain cost.
h("obfunc patch_plain_view_() { return $o1 }")
plain_view = h.patch_plain_view_
"""``plain_view(obj)``: a plain ``hoc.HocObject`` for the NEURON object ``obj`` is (it holds
a NEURON reference to it, not to ``obj``)."""


def _load_speedups() -> Any:
    """``patch._speedups`` (built from ``_speedups.c`` at installation), or ``None`` when it
    was not built or ``PATCH_PURE_PYTHON`` is set (to anything but ``0``)."""
    if os.environ.get("PATCH_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    _speedups.configure(plain_view, hoc.HocObject)
    return _speedups


_speedups = _load_speedups()
#: Whether point processes and NetCons read and set NEURON's variables in compiled code.
COMPILED = _speedups is not None


class _NoAttributes:
    """Without the compiled module: nothing (the classes' Python methods do it all)."""

    __slots__ = ()


#: The first base of a point process class and of NetCon: the compiled attribute access
#: (``Attributes`` reads and sets, ``SetAttributes`` only sets) or, without it, nothing.
Attributes: Any = _NoAttributes if _speedups is None else _speedups.Attributes
SetAttributes: Any = _NoAttributes if _speedups is None else _speedups.SetAttributes

#: ``hoc.HocObject``'s own attribute set, for a name a wrapper leaves to NEURON. With the
#: compiled slots, CPython refuses ``hoc.HocObject.__setattr__(obj, ...)`` (a base's slot
#: may not be called past a C one), and the compiled module makes the same call.
hoc_setattr: Any = hoc.HocObject.__setattr__ if _speedups is None else _speedups.hoc_setattr

_Class = TypeVar("_Class", bound=type)


def compiled_attributes(cls: _Class) -> _Class:
    """Let the compiled slots of ``Attributes``/``SetAttributes`` run first for ``cls``.

    CPython calls a C base's attribute slot directly only when no class before it defines
    ``__setattr__`` (``__getattr__``) in Python, so the class's own methods move to
    ``_python_setattr`` (``_python_getattr``), which the C code calls for every case it
    does not do itself. Without the compiled module the class stays as written.
    """
    if COMPILED:
        for name, moved in (("__setattr__", "_python_setattr"), ("__getattr__", "_python_getattr")):
            if name in vars(cls):
                setattr(cls, moved, vars(cls)[name])
                delattr(cls, name)
    return cls


#: NEURON's class (``hoc.Vector``) -> the Patch class that wraps it, which ``p.Vector``
#: gives: each class that names a NEURON class among its own bases enters itself here.
wrappers: dict[type, type] = {}


class HocObject:
    """Mixed into a hoc class (``hoc.Vector``, a point process, ...) by each wrapper."""

    __slots__ = ()

    hname: Any  # NEURON's methods, from the hoc class each wrapper mixes this into
    baseattr: Any

    #: Whether NEURON hands this kind of object back (``nc.syn()``), so that the same
    #: Python object must be found again for it (``_graph.register_class`` sets it).
    _returned_by_neuron = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__bases__:
            # NEURON's own classes only: a subclass of a Patch class wraps nothing new, and
            # a point process class (over HocBaseObject) is found by its mechanism's name.
            if base in (hoc.HocObject, HocBaseObject) or issubclass(base, HocObject):
                continue
            if issubclass(base, hoc.HocObject):
                wrappers.setdefault(base, cls)

    def __neuron__(self) -> Any:
        """The NEURON object: a Patch object is one already."""
        return self

    def _setup(self, *dependencies: Any) -> None:
        _graph.track(self, *dependencies, returned_by_neuron=self._returned_by_neuron)

    def __str__(self) -> str:
        return hoc.HocObject.__repr__(self)  # NEURON's text ("ExpSyn[0]"), as with raw h

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {self.hname()}>"
        except Exception:
            return f"<{type(self).__name__} (invalid)>"
