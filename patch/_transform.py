"""Converting between Patch objects, duck-typed user objects and raw NEURON objects,
and telling whether a section still exists."""

from __future__ import annotations

from typing import Any

from ._boot import hoc, nrn
from .exceptions import ArgumentError, DeletedSectionError, SegmentPositionError


def transform(obj: Any) -> Any:
    """The raw NEURON object behind ``obj``; anything else passes through unchanged.

    Patch objects are NEURON objects already; a user object that implements
    ``__neuron__()`` is replaced by what that returns.
    """
    # Types are compared with issubclass(type(...)): isinstance() falls back to reading
    # __class__, which raises for a deleted section and its segments.
    if issubclass(type(obj), (nrn.Section, nrn.Segment, hoc.HocObject)):
        return obj
    method = getattr(type(obj), "__neuron__", None)
    if method is not None:
        return method(obj)
    return obj


def implements(obj: Any, method: str) -> bool:
    """Whether a user object offers a duck-typing hook such as ``__arc__``.

    NEURON's own types never do (and a deleted section raises on any attribute lookup).
    """
    if issubclass(type(obj), (nrn.Section, nrn.Segment, hoc.HocObject)):
        return False
    return hasattr(type(obj), method)


def is_pointer(obj: Any) -> bool:
    """Whether ``obj`` is a NEURON pointer such as ``seg._ref_v`` or ``h._ref_t``."""
    if issubclass(type(obj), nrn.Section) or not issubclass(type(obj), hoc.HocObject):
        return False
    try:
        name = obj.hname()
    except Exception:
        return False
    return name.startswith(("data_handle", "<hoc ref"))


def resolve_segment(obj: Any) -> tuple[Any, float]:
    """``(section, x)`` for a Section (x = 0.5), a Segment, or an object with ``__arc__``."""
    if issubclass(type(obj), nrn.Section):
        section, x = obj, 0.5
    elif issubclass(type(obj), nrn.Segment):
        try:
            section, x = obj.sec, obj.x
        except ReferenceError as error:
            raise DeletedSectionError(
                "This segment's section was deleted from NEURON; create a new Section."
            ) from error
    elif implements(obj, "__arc__"):
        x = float(obj.__arc__())
        section = transform(obj)
        if issubclass(type(section), nrn.Segment):
            section = section.sec
    else:
        x = 0.5
        section = transform(obj)
    if not issubclass(type(section), nrn.Section):
        raise ArgumentError(f"Expected a Section or a Segment, got {type(obj).__name__}.")
    if not 0.0 <= x <= 1.0:
        raise SegmentPositionError(f"Position {x!r} is outside the section; use [0, 1].")
    return section, x


def is_alive(section: Any) -> bool:
    """Whether ``section`` still exists in NEURON (``h.delete_section`` removes it)."""
    try:
        section.name()
    except ReferenceError:
        return False
    return True


def check_alive(section: Any) -> None:
    """Raise ``DeletedSectionError`` when ``section`` was deleted from NEURON."""
    if not is_alive(section):
        raise DeletedSectionError(
            "This section was deleted from NEURON (h.delete_section) and cannot be used; "
            "create a new Section instead."
        )
