"""What every Patch hoc object shares: it is the NEURON object, and a node of the graph."""

from __future__ import annotations

from typing import Any

from . import _graph
from ._boot import hoc


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
        _graph.track(
            self,
            *dependencies,
            returned_by_neuron=self._returned_by_neuron,
            event_object=self._returned_by_neuron and self._event_object(),
        )

    def _event_object(self) -> bool:
        """Whether NEURON's event queue may point at this object."""
        return False

    def __str__(self) -> str:
        return hoc.HocObject.__repr__(self)  # NEURON's text ("ExpSyn[0]"), as with raw h

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {self.hname()}>"
        except Exception:
            return f"<{type(self).__name__} (invalid)>"
