"""The reference graph: the one place where edges between Patch objects are made and cut.

Each Patch object keeps a ``_refs`` set of the objects it depends on; edges always run
both ways, so holding any one object of a model keeps the whole connected model alive
and dropping all of them leaves a cycle that ``gc.collect()`` frees. The graph also
finds the one Python object of a NEURON object that NEURON hands back (``nc.syn()``).
"""

from __future__ import annotations

import weakref
from typing import Any

# hash(hoc object) is the address of the underlying hoc Object, so it identifies it for as
# long as a wrapper (which holds a hoc reference) is alive.
_wrappers: dict[int, weakref.ref[Any]] = {}


class Freed:
    """Counts freed objects that NEURON's event queue may still point at."""

    count = 0


def freed_event_objects() -> int:
    """How many NetCons and event targets have been freed since the process started."""
    return Freed.count


# Each registered wrapper has a plain weak reference, keyed by the hash of its hoc object
# (``hash(ref)``, computed at registration, is cached by the reference: it still gives the
# key after the wrapper is gone). Its callback says whether the object was an event target.
def _forget(ref: weakref.ref[Any]) -> None:
    key = hash(ref)
    if _wrappers.get(key) is ref:
        del _wrappers[key]


def _forget_event_object(ref: weakref.ref[Any]) -> None:
    key = hash(ref)
    if _wrappers.get(key) is ref:
        del _wrappers[key]
    Freed.count += 1


_ref = weakref.ref

#: The ``_refs`` slot reader of each Patch class that has that slot, by class: reading the
#: slot through its descriptor skips NEURON's attribute look-up (a section's range
#: variables, a hoc object's names), which comes first on ``obj._refs``.
_refs_readers: dict[type, Any] = {}


def register_class(cls: type) -> None:
    """Let the graph read the ``_refs`` slot of ``cls``'s instances directly."""
    _refs_readers[cls] = cls.__dict__["_refs"].__get__


def _refs_of(obj: Any) -> Any:
    """``obj._refs``, or ``None`` for an object outside the graph."""
    read = _refs_readers.get(type(obj))
    if read is not None:
        try:
            return read(obj)
        except AttributeError:  # not set up yet (a Section between __new__ and __init__)
            return None
    return getattr(obj, "_refs", None)


def track(
    obj: Any, *dependencies: Any, returned_by_neuron: bool = False, event_object: bool = False
) -> None:
    """Make ``obj`` a node of the graph, linked to each (non-``None``) dependency.

    ``returned_by_neuron``: NEURON hands this kind of object back (``nc.syn()``), so it is
    registered as the one Python object of its NEURON object. ``event_object``: NEURON's
    event queue may point at it, so its freeing is counted (see ``freed_event_objects``).
    """
    refs: set[Any] = set()
    # The class's own slot, set directly: a wrapper's __setattr__ is for NEURON's names.
    type(obj)._refs.__set__(obj, refs)
    if returned_by_neuron:
        ref = _ref(obj, _forget_event_object if event_object else _forget)
        _wrappers[hash(ref)] = ref
    for dependency in dependencies:  # link(obj, dependency), inlined: this is a hot path
        if dependency is not None:
            refs.add(dependency)
            theirs = _refs_of(dependency)
            if theirs is not None:
                theirs.add(obj)


def track_returned(
    obj: Any, slot: Any, dependency: Any, event_object: bool, other: Any = None
) -> None:
    """``track(obj, dependency, other, returned_by_neuron=True, event_object=...)``, for
    the paths that make most objects (a point process, a NetCon): ``slot`` is the
    ``_refs`` slot of ``obj``'s class; ``dependency`` and ``other`` may be ``None``."""
    refs: set[Any] = set()
    slot.__set__(obj, refs)
    if dependency is not None:
        refs.add(dependency)
        read = _refs_readers.get(type(dependency))
        if read is not None:
            try:
                read(dependency).add(obj)
            except AttributeError:
                pass
        else:
            theirs = getattr(dependency, "_refs", None)
            if theirs is not None:
                theirs.add(obj)
    if other is not None:
        refs.add(other)
        theirs = _refs_of(other)
        if theirs is not None:
            theirs.add(obj)
    ref = _ref(obj, _forget_event_object if event_object else _forget)
    _wrappers[hash(ref)] = ref


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
    refs = _refs_of(a)
    if refs is not None:
        refs.add(b)
    refs = _refs_of(b)
    if refs is not None:
        refs.add(a)


def unlink(a: Any, b: Any) -> None:
    """Undo :func:`link`: ``a`` and ``b`` no longer keep each other alive."""
    getattr(a, "_refs", set()).discard(b)
    getattr(b, "_refs", set()).discard(a)


def move(obj: Any, old: Any, new: Any) -> None:
    """``obj`` now depends on ``new`` instead of ``old`` (either may be ``None``)."""
    if old is not None:
        unlink(obj, old)
    if new is not None:
        link(obj, new)


def release(obj: Any) -> None:
    """Cut every edge of ``obj`` (it is being deleted from NEURON)."""
    for other in list(getattr(obj, "_refs", ())):
        unlink(obj, other)


def references(obj: Any) -> frozenset[Any]:
    """The objects ``obj`` holds alive directly."""
    return frozenset(getattr(obj, "_refs", ()))
