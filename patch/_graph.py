"""The reference graph: the one place where edges between Patch objects are made and cut.

Each Patch object keeps, in its ``_refs`` slot (and, for point processes and NetCons, a
second slot ``_refs2``), what it depends on: nothing, one or two objects directly, or a set
once there are more. Edges always run both ways, so holding any one object of a model
keeps the whole connected model alive, and dropping all of them leaves a cycle that
``gc.collect()`` frees. The graph also finds the one Python object of a NEURON object that
NEURON hands back (``nc.syn()``).

Python's cyclic garbage collector runs after every few hundred objects it tracks are
made, so each one a Patch object adds costs time in every model that builds many. A
point process is one such object (itself), not three: its edges to its section and a
NetCon need no set, and its entry in the registry of handed-back objects is two numbers,
not a weak reference.
"""

from __future__ import annotations

import _ctypes
import ctypes
import weakref
from types import MemberDescriptorType
from typing import Any

#: The registry of the objects NEURON hands back: the hash of a hoc object (the address of
#: the NEURON object, the same for a wrapper and a plain hoc object of it) -> ``id()`` of
#: its wrapper. An entry is removed by the wrapper's ``__del__`` (see ``register_class``),
#: which runs before the wrapper's memory is freed, so an ``id`` found here is always a
#: live object. A class whose own ``__del__`` replaces the graph's gets a weak reference.
_wrappers: dict[int, Any] = {}


class Freed:
    """Counts freed objects that NEURON's event queue may still point at."""

    count = 0


def freed_event_objects() -> int:
    """How many NetCons and event targets have been freed since the process started."""
    return Freed.count


def _forget(obj: Any) -> None:
    """``__del__`` of a class NEURON hands back: its wrapper leaves the registry."""
    key = hash(obj)
    if _wrappers.get(key) == id(obj):
        del _wrappers[key]


def _forget_event_object(obj: Any) -> None:
    """``__del__`` of a class whose instances NEURON's event queue may point at."""
    key = hash(obj)
    if _wrappers.get(key) == id(obj):
        del _wrappers[key]
        Freed.count += 1


_FINALIZERS = (_forget, _forget_event_object)


def _forget_ref(ref: weakref.ref[Any]) -> None:
    key = hash(ref)  # cached by the reference at registration: it outlives the wrapper
    if _wrappers.get(key) is ref:
        del _wrappers[key]


def _forget_event_ref(ref: weakref.ref[Any]) -> None:
    key = hash(ref)
    if _wrappers.get(key) is ref:
        del _wrappers[key]
        Freed.count += 1


#: Classes whose instances are registered by ``id``: their ``__del__`` is the graph's.
_by_id: set[type] = set()
#: Classes whose instances NEURON's event queue may point at.
_event_classes: set[type] = set()


def _register(obj: Any) -> None:
    """Make ``obj`` the one Python object of its NEURON object."""
    cls = type(obj)
    if cls in _by_id:
        _wrappers[hash(obj)] = id(obj)
        return
    finalizer = getattr(cls, "__del__", None)
    if finalizer in _FINALIZERS:  # a subclass of a Patch class, keeping its __del__
        _by_id.add(cls)
        _wrappers[hash(obj)] = id(obj)
        return
    # A subclass with a __del__ of its own: a weak reference tells when it is gone.
    event = any(issubclass(cls, event_class) for event_class in _event_classes)
    ref = weakref.ref(obj, _forget_event_ref if event else _forget_ref)
    _wrappers[hash(ref)] = ref


def _cast(address: int) -> Any:
    """The live object whose ``id()`` is ``address``."""
    return ctypes.cast(address, ctypes.py_object).value


#: The same, from the function ctypes itself has for it (a tenth of ``_cast``'s cost).
_object_at: Any = getattr(_ctypes, "PyObj_FromPtr", _cast)


def lookup(obj: Any) -> Any:
    """The registered wrapper of a raw hoc object, or ``obj`` itself."""
    try:
        entry = _wrappers.get(hash(obj))
    except TypeError:
        return obj
    if entry is None:
        return obj
    found = _object_at(entry) if type(entry) is int else entry()
    if found is not None and found == obj:
        return found
    return obj


#: The ``_refs`` slots of each class, as (read, write, read the second, write the second;
#: the last two ``None`` for a class with one slot), or ``None`` for a class outside the
#: graph (NEURON's own): reading a slot through its descriptor skips NEURON's attribute
#: look-up (a section's range variables, a hoc object's names), which comes first on
#: ``obj._refs``.
_slots: dict[type, Any] = {}


def _accessors(cls: type) -> Any:
    first = getattr(cls, "_refs", None)  # a subclass of a Patch class inherits the slots
    if not isinstance(first, MemberDescriptorType):
        return None
    second = getattr(cls, "_refs2", None)
    if isinstance(second, MemberDescriptorType):
        return (first.__get__, first.__set__, second.__get__, second.__set__)
    return (first.__get__, first.__set__, None, None)


def register_class(cls: type, *, handed_back: bool = False, event_object: bool = False) -> None:
    """Make ``cls`` (with a ``_refs`` slot, and optionally ``_refs2``) a class of the graph.

    ``handed_back``: NEURON hands instances back (``nc.syn()``), so each is registered as the
    one Python object of its NEURON object; the class's ``__del__`` takes it out of the
    registry again. ``event_object``: NEURON's event queue may point at instances, so their
    freeing is counted (see ``freed_event_objects``).
    """
    _slots[cls] = _accessors(cls)
    if handed_back:
        cls._returned_by_neuron = True  # type: ignore[attr-defined]
        cls.__del__ = _forget_event_object if event_object else _forget  # type: ignore[attr-defined]
        _by_id.add(cls)
        if event_object:
            _event_classes.add(cls)


def _slots_of(cls: type) -> Any:
    """``cls``'s accessors (see ``_slots``), remembered for ``cls``."""
    found = _slots[cls] = _accessors(cls)
    return found


# What an object depends on is in its slots: ``_refs`` holds nothing (``None``), one object
# or a set of all of them; ``_refs2``, where the class has it, a second object while
# ``_refs`` holds the first. Only the second edge of a class without ``_refs2``, or the third
# of one with it, makes a set: a point process with its section and one NetCon, and a NetCon
# with its source and target, need none.


def _node(holder: Any) -> Any:
    """``(accessors, what the _refs slot holds)`` of ``holder``, or ``None`` when it is not
    a node of the graph (NEURON's own objects, a Section between ``__new__`` and
    ``__init__``)."""
    cls = type(holder)
    slots = _slots[cls] if cls in _slots else _slots_of(cls)
    if slots is None:
        return None
    try:
        return slots, slots[0](holder)
    except AttributeError:
        return None


def _hold(holder: Any, other: Any) -> None:
    """``holder`` keeps ``other`` alive, if ``holder`` is a node of the graph."""
    node = _node(holder)
    if node is None:
        return
    (_, write, read2, write2), refs = node
    if type(refs) is set:
        refs.add(other)
    elif refs is None:
        write(holder, other)
    elif refs is not other:
        if read2 is None:
            write(holder, {refs, other})
            return
        second = read2(holder)
        if second is None:
            write2(holder, other)
        elif second is not other:
            write(holder, {refs, second, other})
            write2(holder, None)


def _let_go(holder: Any, other: Any) -> None:
    """``holder`` no longer keeps ``other`` alive."""
    node = _node(holder)
    if node is None:
        return
    (_, write, read2, write2), refs = node
    if type(refs) is set:
        refs.discard(other)
        return
    second = None if read2 is None else read2(holder)
    if second is not None and (second is other or second == other):
        write2(holder, None)
    elif refs is not None and (refs is other or refs == other):
        write(holder, second)  # the second, if any, becomes the first
        if second is not None:
            write2(holder, None)


def _held(obj: Any) -> Any:
    """What ``obj`` keeps alive, as an iterable."""
    node = _node(obj)
    if node is None:
        return ()
    slots, refs = node
    if type(refs) is set:
        return refs
    if refs is None:
        return ()
    second = None if slots[2] is None else slots[2](obj)
    return (refs,) if second is None else (refs, second)


def track(obj: Any, *dependencies: Any, returned_by_neuron: bool = False) -> None:
    """Make ``obj`` a node of the graph, linked to each (non-``None``) dependency.

    ``returned_by_neuron``: NEURON hands this kind of object back (``nc.syn()``), so it is
    registered as the one Python object of its NEURON object (its class was registered
    with ``handed_back=True``).
    """
    # The class's own slots, set directly: a wrapper's __setattr__ is for NEURON's names.
    cls = type(obj)
    slots = _slots[cls] if cls in _slots else _slots_of(cls)
    slots[1](obj, None)
    if slots[3] is not None:
        slots[3](obj, None)
    if returned_by_neuron:
        _register(obj)
    for dependency in dependencies:
        if dependency is not None:
            link(obj, dependency)


def track_returned(obj: Any, dependency: Any, other: Any = None) -> None:
    """``track(obj, dependency, other, returned_by_neuron=True)``, for the paths that make
    most objects (a point process, a NetCon: classes with both slots); ``dependency`` and
    ``other`` may be ``None``."""
    cls = type(obj)
    slots = _slots[cls] if cls in _slots else _slots_of(cls)
    if dependency is None:
        dependency, other = other, None
    slots[1](obj, dependency)  # nothing, or the first object it depends on
    slots[3](obj, other if other is not dependency else None)
    if dependency is not None:
        _hold(dependency, obj)
        if other is not None and other is not dependency:
            _hold(other, obj)
    if cls in _by_id:
        _wrappers[hash(obj)] = id(obj)
    else:
        _register(obj)


def link(a: Any, b: Any) -> None:
    """Make ``a`` and ``b`` keep each other alive (as far as each can hold references)."""
    _hold(a, b)
    _hold(b, a)


def unlink(a: Any, b: Any) -> None:
    """Undo :func:`link`: ``a`` and ``b`` no longer keep each other alive."""
    _let_go(a, b)
    _let_go(b, a)


def move(obj: Any, old: Any, new: Any) -> None:
    """``obj`` now depends on ``new`` instead of ``old`` (either may be ``None``)."""
    if old is not None:
        unlink(obj, old)
    if new is not None:
        link(obj, new)


def release(obj: Any) -> None:
    """Cut every edge of ``obj`` (it is being deleted from NEURON)."""
    for other in list(_held(obj)):
        unlink(obj, other)


def references(obj: Any) -> frozenset[Any]:
    """The objects ``obj`` holds alive directly."""
    return frozenset(_held(obj))
