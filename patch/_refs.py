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
_wrappers: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def register(wrapper: Any) -> None:
    """Remember ``wrapper`` as the one Python object for its hoc object."""
    _wrappers[hash(wrapper)] = wrapper


def lookup(obj: Any) -> Any:
    """The registered wrapper of a raw hoc object, or ``obj`` itself."""
    try:
        found = _wrappers.get(hash(obj))
    except TypeError:
        return obj
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


def references(obj: Any) -> frozenset[Any]:
    """The objects ``obj`` holds alive directly."""
    return frozenset(getattr(obj, "_refs", ()))
