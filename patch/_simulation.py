"""Run safety: where it is decided that a simulation may start or go on.

NEURON crashes, aborts or hangs on a few states of a model that are easy to reach from
Python; each check here refuses one of them before NEURON gets there.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

from . import _graph
from ._boot import h
from ._mechanisms import declared_pointers, hoc_name, point_processes
from ._validate import is_number
from .exceptions import ArgumentError, SimulationTimeError, SimulatorError


class _Initialised:
    """Freed NetCons and synapses counted at the last ``finitialize``, whoever called it."""

    def __init__(self) -> None:
        self.freed_at_init = _graph.freed_event_objects()
        # Runs inside every finitialize: hoc's init(), h.finitialize and p alike.
        self.handler = h.FInitializeHandler(1, self)

    def __call__(self) -> None:
        self.freed_at_init = _graph.freed_event_objects()
        sync_run_system()


_initialised = _Initialised()


class _Follow:
    cvode = False


def follow_cvode(enabled: bool = True) -> bool:
    """Whether ``stdrun.hoc`` steps with the integrator that is on, however CVode was
    switched; returns the previous setting.

    Off by default, as in NEURON, so a script gives raw NEURON's results (G3): the run
    system steps by its own ``using_cvode_``, which only ``cvode_active()`` (and loading
    ``stdrun.hoc``) sets. After ``CVode().active(1)`` it then steps CVode as if it were
    fixed-step and ends a run past ``tstop`` (far past it for a quiet passive cell); after
    ``CVode().active(0)`` it does one step too many. When on, the run system is told which
    integrator is on inside every initialisation and before every run through ``p``, so
    raw ``h`` and hoc's own ``run()`` end at ``tstop`` too. The pytest plugin turns it on
    for each test that uses ``p``, whose run system it loaded before the test began.
    """
    if not isinstance(enabled, bool):
        raise ArgumentError(f"follow_cvode(enabled) takes True or False, not {enabled!r}.")
    previous, _Follow.cvode = _Follow.cvode, enabled
    return previous


def sync_run_system() -> None:
    """Tell ``stdrun.hoc`` which integrator is on, when :func:`follow_cvode` is on."""
    if _Follow.cvode and h.name_declared("using_cvode_") == 5:
        active = 1.0 if h.CVode().active() else 0.0
        if h.using_cvode_ != active:
            h.using_cvode_ = active


def check_step(dt: Any) -> None:
    """Refuse a time step that is not a positive number (NEURON would never finish)."""
    if not is_number(dt) or not dt > 0 or not math.isfinite(dt):
        raise SimulationTimeError(
            f"dt={dt!r}: the time step must be a positive number of ms (NEURON would "
            "never reach the end of the run)."
        )


def check_time(name: str, value: Any) -> None:
    """Refuse a time that is not a finite, non-negative number of ms."""
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise SimulationTimeError(f"{name}={value!r}: give a finite, non-negative time in ms.")


def check_can_continue() -> None:
    """Raise where continuing the simulation would make NEURON hang or crash.

    A time step that is not a positive number never reaches the end of a run, and a
    NetCon or synapse freed since the last initialisation (by anyone: ``p``, ``h`` or
    a hoc ``init()``) may still have events in NEURON's queue, which NEURON would
    deliver to freed memory.
    """
    check_step(h.dt)
    freed = _graph.freed_event_objects() - _initialised.freed_at_init
    if freed:
        raise SimulatorError(
            f"{freed} NetCon(s) or synapse(s) were freed after the simulation was "
            "initialised, and NEURON may still have events queued for them. Call "
            "p.finitialize() (or p.run()) before continuing, or keep a reference to "
            "the model while it runs."
        )


_dt = h._ref_dt  # NEURON's dt, read through a pointer: no look-up by name
_Freed = _graph.Freed


def can_continue() -> bool:
    """Whether :func:`check_can_continue` would pass (the quick answer, for each step)."""
    return 0.0 < _dt[0] < math.inf and _Freed.count == _initialised.freed_at_init


def check_can_start() -> None:
    """Raise where initialising this model would make NEURON crash, abort or hang."""
    check_step(h.dt)
    check_netstim_inputs()
    check_pointers()


#: NetCons that deliver to a NetStim (see check_netstim_inputs).
_netstim_inputs: weakref.WeakSet[Any] = weakref.WeakSet()


def watch_netcon(netcon: Any, target: Any) -> None:
    """Note a new NetCon whose target may turn a NetStim on or off."""
    if target is None:
        return
    name = type(target).__name__  # Patch's classes are named after the mechanism
    if name == "NetStim" or (name == "HocObject" and hoc_name(target) == "NetStim"):
        _netstim_inputs.add(netcon)


def check_netstim_inputs() -> None:
    """Refuse a NetStim with ``number < 1`` that a NetCon with positive weight drives.

    NEURON's NetStim answers such an event by scheduling one in the past, and NEURON
    aborts the process ("net_send td-t = ...").
    """
    for netcon in list(_netstim_inputs):
        target = netcon.syn()
        if target is not None and target.number < 1 and netcon.weight[0] > 0:
            raise SimulatorError(
                f"{target.hname()} has number={target.number:g} but {netcon.hname()} turns it "
                "on (weight > 0); NEURON would abort the process when the event arrives. "
                "Give the NetStim number >= 1, or a negative weight to turn it off."
            )


def check_pointers() -> None:
    """Refuse a run in which a point process has a POINTER that was never set.

    NEURON would read through a null pointer and crash the process.
    """
    for name, pointers in declared_pointers().items():
        if not pointers or name not in point_processes():
            continue
        instances = h.List(name)
        for i in range(int(instances.count())):
            process = instances.o(i)
            for pointer in pointers:
                try:
                    getattr(process, pointer)
                except ValueError:
                    raise SimulatorError(
                        f"{process.hname()}.{pointer} is a POINTER that was never set, and "
                        "NEURON would crash reading it during the run. Set it first: "
                        f"process._ref_{pointer} = seg._ref_v (or another variable's "
                        "reference), or h.setpointer(ref, name, process)."
                    ) from None
