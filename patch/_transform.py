"""Converting between Patch objects, duck-typed user objects and raw NEURON objects."""

from __future__ import annotations

from typing import Any

from neuron import nrn
from neuron import hoc

from .exceptions import SegmentPositionError


def transform(obj: Any) -> Any:
    """The raw NEURON object behind ``obj``; anything else passes through unchanged.

    Patch objects are NEURON objects already; a user object that implements
    ``__neuron__()`` is replaced by what that returns.
    """
    if isinstance(obj, (hoc.HocObject, nrn.Section, nrn.Segment)):
        return obj
    method = getattr(type(obj), "__neuron__", None)
    if method is not None:
        return method(obj)
    return obj


def is_pointer(obj: Any) -> bool:
    """Whether ``obj`` is a NEURON pointer such as ``seg._ref_v`` or ``h._ref_t``."""
    if not isinstance(obj, hoc.HocObject):
        return False
    try:
        name = obj.hname()
    except Exception:
        return False
    return name.startswith(("data_handle", "<hoc ref"))


def resolve_segment(obj: Any) -> tuple[Any, float]:
    """``(section, x)`` for a Section (x = 0.5), a Segment, or an object with ``__arc__``."""
    if isinstance(obj, nrn.Segment):
        return obj.sec, obj.x
    if hasattr(obj, "__arc__"):
        x = float(obj.__arc__())
        section = transform(obj)
        if isinstance(section, nrn.Segment):
            section = section.sec
    else:
        x = 0.5
        section = transform(obj)
    if not isinstance(section, nrn.Section):
        raise TypeError(f"Expected a Section or a Segment, got {type(obj).__name__}.")
    if not 0.0 <= x <= 1.0:
        raise SegmentPositionError(f"Position {x!r} is outside the section; use [0, 1].")
    return section, x
