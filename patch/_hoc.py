"""What every Patch hoc object shares: it is the NEURON object, and a node of the graph."""

from __future__ import annotations

from typing import Any

from . import _graph
from ._boot import h, hoc

# NEURON's attribute access on an instance of a subclass of a hoc class first asks
# Python's generic lookup, which fails (an AttributeError made and dropped) for every
# NEURON variable: `ns.start = 1` costs three times what it costs on a plain hoc object.
# A plain view of the same NEURON object (what a hoc function returning its argument
# gives) reads and writes NEURON's variables at the plain cost.
h("obfunc patch_plain_view_() { return $o1 }")
plain_view = h.patch_plain_view_
"""``plain_view(obj)``: a plain ``hoc.HocObject`` for the NEURON object ``obj`` is (it holds
a NEURON reference to it, not to ``obj``)."""


class HocObject:
    """Mixed into a hoc class (``hoc.Vector``, a point process, ...) by each wrapper."""

    __slots__ = ()

    hname: Any  # NEURON's methods, from the hoc class each wrapper mixes this into
    baseattr: Any

    #: Whether NEURON hands this kind of object back (``nc.syn()``), so that the same
    #: Python object must be found again for it.
    _returned_by_neuron = False

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
