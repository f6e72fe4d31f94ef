"""What lives in NEURON right now: the basis of leak checks."""

from __future__ import annotations

from ._boot import h
from ._mechanisms import point_processes


def live_objects() -> dict[str, list[str]]:
    """Names of the sections, point processes and NetCons that exist in NEURON.

    ``{"sections": [...], "point_processes": [...], "netcons": [...]}``; compare two
    snapshots (after ``gc.collect()``) to find what a piece of code left behind.
    """
    sections = [section.name() for section in h.allsec()]
    processes: list[str] = []
    for name in sorted(point_processes()):
        instances = h.List(name)
        processes.extend(instances.o(i).hname() for i in range(int(instances.count())))
    netcons = h.List("NetCon")
    return {
        "sections": sections,
        "point_processes": processes,
        "netcons": [netcons.o(i).hname() for i in range(int(netcons.count()))],
    }
