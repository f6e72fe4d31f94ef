"""What lives in NEURON right now: the basis of leak checks."""

from __future__ import annotations

from typing import Any

from ._boot import h
from ._mechanisms import point_processes

# One hoc ``List(name)`` per kind of object, made once: NEURON keeps such a list up to date
# as objects are made and freed (it holds no reference to them), and keeps a little
# memory of every List ever made, so a new one per look would grow with every test.
_lists: dict[str, Any] = {}


def _instances(name: str) -> list[str]:
    """The hoc names of the live instances of the template or mechanism ``name``."""
    instances = _lists.get(name)
    if instances is None:
        instances = _lists[name] = h.List(name)
    count = int(instances.count())
    return [instances.o(i).hname() for i in range(count)] if count else []


def live_objects() -> dict[str, list[str]]:
    """Names of the sections, point processes and NetCons that exist in NEURON.

    ``{"sections": [...], "point_processes": [...], "netcons": [...]}``; compare two
    snapshots (after ``gc.collect()``) to find what a piece of code left behind.
    """
    sections = [section.name() for section in h.allsec()]
    processes: list[str] = []
    for name in sorted(point_processes()):
        processes.extend(_instances(name))
    return {"sections": sections, "point_processes": processes, "netcons": _instances("NetCon")}
