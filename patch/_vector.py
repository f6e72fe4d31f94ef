"""Vectors that record and play sections and segments, keeping what they touch alive."""

from __future__ import annotations

from typing import Any

from . import _graph
from ._boot import hoc, nrn
from ._hoc import HocObject
from ._transform import check_alive, implements, is_pointer, resolve_segment, transform
from .exceptions import NotRecordableError


class Vector(HocObject, hoc.Vector):
    """``h.Vector`` that records sections and segments (their ``_ref_v``) directly."""

    __slots__ = ("_refs", "__weakref__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._setup()

    def record(self, target: Any, *args: Any, **kwargs: Any) -> Vector:
        """Record ``target``: a section (its middle), a segment, or a NEURON pointer."""
        owner = None
        if issubclass(type(target), nrn.Section) or not issubclass(type(target), hoc.HocObject):
            if implements(target, "__record__"):
                target = target.__record__()
            target = transform(target)
            if issubclass(type(target), nrn.Section):
                check_alive(target)
                owner = target
                target = target(0.5)._ref_v
            elif issubclass(type(target), nrn.Segment):
                owner = target.sec
                check_alive(owner)
                target = target._ref_v
        if owner is None and "sec" in kwargs:
            owner = kwargs["sec"]
        try:
            self.baseattr("record")(target, *args, **kwargs)
        except (RuntimeError, TypeError) as error:
            if is_pointer(target):
                raise
            raise NotRecordableError(
                f"Cannot record {target!r}: give a Section, a Segment or a pointer such as "
                "seg._ref_v or h._ref_t."
            ) from error
        if owner is not None:
            _graph.link(self, owner)
        for arg in args:
            if issubclass(type(arg), hoc.HocObject):
                _graph.link(self, arg)
        return self

    def play(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        """``h.Vector.play`` that keeps its time Vector (and a played section) alive.

        A section or segment as ``target`` means its voltage, as in :meth:`record`.
        """
        owner = None
        if issubclass(type(target), nrn.Section) or issubclass(type(target), nrn.Segment):
            section, x = resolve_segment(target)
            check_alive(section)
            owner, target = section, section(x)._ref_v
        result = self.baseattr("play")(target, *args, **kwargs)
        if owner is not None:
            _graph.link(self, owner)
        for arg in args:
            if issubclass(type(arg), hoc.HocObject) and not is_pointer(arg):
                _graph.link(self, arg)
        return result


_graph.register_class(Vector)
