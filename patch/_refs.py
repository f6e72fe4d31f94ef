"""Strong references between wrappers, and one wrapper per NEURON object.

Each Patch object keeps a ``_refs`` set of the objects it depends on; dependencies are
always linked both ways, so holding any one object of a model keeps the whole connected
model alive and dropping all of them leaves a cycle that ``gc.collect()`` frees.
"""

from __future__ import annotations

import weakref
from typing import Any

# hash(hoc object) is the address of the underlying hoc Object, so it identifies it for as
# long as a wrapper (which holds a hoc reference) is alive.
_wrappers: dict[int, _Entry] = {}


class _Freed:
    """Counts freed objects that NEURON's event queue may still point at."""

    count = 0


def freed_event_objects() -> int:
    """How many NetCons and event targets have been freed since the process started."""
    return _Freed.count


class _Entry(weakref.ref):  # type: ignore[type-arg]
    __slots__ = ("key", "event_object")


def _forget(entry: _Entry) -> None:
    if _wrappers.get(entry.key) is entry:
        del _wrappers[entry.key]
    if entry.event_object:
        _Freed.count += 1


def register(wrapper: Any, event_object: bool = False) -> None:
    """Remember ``wrapper`` as the one Python object for its hoc object."""
    entry = _Entry(wrapper, _forget)
    entry.key = hash(wrapper)
    entry.event_object = event_object
    _wrappers[entry.key] = entry


def lookup(obj: Any) -> Any:
    """The registered wrapper of a raw hoc object, or ``obj`` itself."""
    try:
        ref = _wrappers.get(hash(obj))
    except TypeError:
        return obj
    found = ref() if ref is not None else None
    if found is not None and found == obj:
        return found
    return obj


def link(a: Any, b: Any) -> None:
    """Make ``a`` and ``b`` keep each other alive (as far as each can hold references)."""
    refs = getattr(a, "_refs", None)
    if refs is not None:
        refs.add(b)
    refs = getattr(b, "_refs", None)
    if refs is not None:
        refs.add(a)


def unlink(a: Any, b: Any) -> None:
    """Undo :func:`link`: ``a`` and ``b`` no longer keep each other alive."""
    getattr(a, "_refs", set()).discard(b)
    getattr(b, "_refs", set()).discard(a)


def references(obj: Any) -> frozenset[Any]:
    """The objects ``obj`` holds alive directly."""
    return frozenset(getattr(obj, "_refs", ()))
