"""Running a simulation through ``p``: NEURON's run system, serially or across ranks.

Serially, ``p.run()`` is hoc's ``run()`` itself, so a model's own ``init()``,
``advance()``, ``FInitializeHandler``s and ``setdt()`` behave exactly as with
``h.run()``. Across ranks, stepping goes through ``ParallelContext.psolve``, the only way
spikes cross ranks. Before anything initialises, :mod:`._simulation` refuses what
would crash NEURON and :mod:`._parallel` does the collective set-up.
"""

from __future__ import annotations

import math
from typing import Any

from . import _parallel, _simulation
from ._boot import h
from ._validate import is_number
from ._vector import Vector
from .exceptions import ArgumentError, HocError, SimulationTimeError


class _State:
    stdrun = False
    time: Vector | None = None


def load_stdrun() -> None:
    """Load ``stdrun.hoc`` once (``run``, ``continuerun``, ``tstop``, ``v_init``)."""
    if not _State.stdrun:
        h.load_file("stdrun.hoc")
        _State.stdrun = True


def stdrun_loaded() -> None:
    """Note that ``stdrun.hoc`` was loaded by other means (``p.load_file``)."""
    _State.stdrun = True


def time_vector() -> Vector:
    """The Vector that records ``t`` in every run through ``p`` (``p.time``)."""
    if _State.time is None:
        _State.time = Vector()
    return _State.time


def _record_time() -> None:
    # NEURON ties a recording of t to the section accessed when it started and drops
    # it when that section is deleted, so the recording is renewed before every run,
    # on any live section (a model without sections has no time to record).
    vector = time_vector()
    for section in h.allsec():
        # NEURON's own record: the time Vector must not keep the section alive.
        vector.baseattr("record")(h._ref_t, sec=section)
        return
    vector.resize(0)


def prepare() -> None:
    """What must hold before anything calls ``finitialize``, whoever calls it.

    Refuses models NEURON would crash on, renews the time recording and does the
    parallel set-up (collective under MPI: every rank initialises together).
    """
    _simulation.check_can_start()
    _simulation.sync_run_system()
    _record_time()
    _parallel.prepare(_parallel.context())


def _hoc(name: str, function: Any, *args: Any) -> Any:
    """Call a function of the run system; a hoc error becomes a ``HocError``."""
    try:
        return function(*args)
    except RuntimeError as error:
        if type(error) is not RuntimeError:
            raise
        raise HocError(f"p.{name}() failed in NEURON: {error}") from error


def finitialize(*args: Any) -> Any:
    """``h.finitialize`` after the parallel set-up NEURON needs, when it needs it."""
    for value in args:
        if not is_number(value) or not math.isfinite(value):
            raise ArgumentError(f"finitialize takes an initial voltage in mV, not {value!r}.")
    prepare()
    return _hoc("finitialize", h.finitialize, *args)


def stdinit() -> None:
    """The run system's ``stdinit()``: ``setdt()``, then the (maybe redefined) ``init()``."""
    load_stdrun()
    prepare()
    _hoc("stdinit", h.stdinit)


def init() -> None:
    """The run system's ``init()`` (the model's own, if it redefines it)."""
    load_stdrun()
    prepare()
    _hoc("init", h.init)


def run(duration: float | None = None) -> None:
    """NEURON's ``run()``: initialise and simulate until ``tstop``.

    ``run(duration)`` is ``tstop = duration`` then ``run()``. Across ranks this is
    ``stdinit()`` followed by ``psolve(tstop)`` (a hoc ``advance()`` is then not called).
    """
    load_stdrun()
    if duration is not None:
        _simulation.check_time("duration", duration)
        h.tstop = duration
    _simulation.check_time("tstop", h.tstop)
    if _parallel.needs_psolve(_parallel.context()):
        stdinit()
        _advance_to(h.tstop)
    else:
        prepare()
        _hoc("run", h.run)


def continuerun(until: float) -> None:
    """Continue the simulation up to time ``until`` without re-initialising."""
    load_stdrun()
    _simulation.check_time("until", until)
    if until < h.t - h.dt / 2:
        raise SimulationTimeError(
            f"continuerun({until!r}): the simulation is at t={h.t:g} ms already, and NEURON "
            "would do nothing. Continue to a later time, or p.finitialize() to start again."
        )
    _advance_to(until)


_fadvance = h.fadvance  # the hoc function, found once: h.fadvance looks it up by name


def fadvance() -> Any:
    """Advance one time step (``h.fadvance``), refused where NEURON would crash or hang."""
    if not _simulation.can_continue():
        _simulation.check_can_continue()  # raises, saying why
    return _fadvance()


def _advance_to(until: float) -> None:
    _simulation.check_can_continue()
    _simulation.sync_run_system()
    _simulation.check_pointers()  # a point process made since the initialisation
    context = _parallel.context()
    if _parallel.needs_psolve(context):
        if _parallel.coreneuron_enabled():
            h.CVode().cache_efficient(1)  # CoreNEURON takes the model from NEURON's caches
        context.set_maxstep(10)  # collective; connects receivers made since init
        context.psolve(until)
    else:
        _hoc("continuerun", h.continuerun, until)
