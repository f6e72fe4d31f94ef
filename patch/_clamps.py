"""Current and voltage clamps configured in one call (the Candy Guide's ``iclamp``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from . import _graph
from ._boot import h
from ._point_process import point_process_class
from ._transform import resolve_segment
from ._validate import is_number
from ._vector import Vector
from .exceptions import ArgumentError, ArgumentValueError, SimulationTimeError

#: What a clamp's ``duration=None`` means: on for the whole run, however long.
FOREVER = 1e9


class ClampSettings(TypedDict, total=False):
    """The keywords of :func:`iclamp`, for the calls that pass them on to it."""

    amp: float | Iterable[float]
    delay: float
    duration: float | None


def iclamp(
    target: Any,
    *,
    amp: float | Iterable[float] = 0.1,
    delay: float = 0.0,
    duration: float | None = None,
) -> Any:
    """An ``IClamp`` at ``target`` (a Section means its middle, or a Segment).

    - ``amp`` (nA): a number, or a sequence played one value per time step (``dt`` at
      the time of the call) starting at ``delay``;
    - ``delay`` (ms): when the current starts;
    - ``duration`` (ms): how long it lasts; by default the whole run for a number, and
      the sequence's length for a sequence.

    The clamp keeps its section (and a played sequence) alive, and they keep it.
    """
    if not is_number(delay) or delay < 0:
        raise SimulationTimeError(f"iclamp: delay={delay!r} must be a number of ms >= 0.")
    if duration is not None and (not is_number(duration) or duration < 0):
        raise SimulationTimeError(
            f"iclamp: duration={duration!r} must be a number of ms >= 0 (or None)."
        )
    section, x = resolve_segment(target)
    if is_number(amp):
        clamp = point_process_class("IClamp")(section(x))
        clamp.delay = delay
        clamp.amp = amp
        clamp.dur = FOREVER if duration is None else duration
        return clamp
    if isinstance(amp, (str, bytes, bool)) or not isinstance(amp, Iterable):
        raise ArgumentError(f"iclamp: amp={amp!r} must be a number of nA or a sequence of them.")
    values = list(amp)
    if not values:
        raise ArgumentValueError("iclamp: amp is an empty sequence; give at least one value.")
    bad = [value for value in values if not is_number(value)]
    if bad:
        raise ArgumentError(f"iclamp: amp holds {bad[0]!r}; give numbers of nA.")
    clamp = point_process_class("IClamp")(section(x))
    clamp.delay = delay
    played = Vector(values)
    step = h.dt
    times = Vector(len(values))
    times.indgen(delay, step)
    clamp.dur = len(values) * step if duration is None else duration
    played.play(clamp._ref_amp, times, False)
    _graph.link(clamp, played)
    _graph.link(clamp, times)
    return clamp


def vclamp(
    target: Any,
    *,
    voltage: float | Sequence[float] = -65.0,
    duration: float | Sequence[float] = 100.0,
    resistance: float | None = None,
) -> Any:
    """Clamp the voltage at ``target`` with an ``SEClamp``: one to three (voltage, duration)
    steps."""
    voltages = [voltage] if isinstance(voltage, (int, float)) else list(voltage)
    durations = [duration] if isinstance(duration, (int, float)) else list(duration)
    if not 1 <= len(voltages) <= 3 or len(voltages) != len(durations):
        raise ArgumentValueError(
            "vclamp: give one to three voltages and as many durations "
            f"(got {len(voltages)} voltages, {len(durations)} durations)."
        )
    section, x = resolve_segment(target)
    clamp = point_process_class("SEClamp")(section(x))
    for i, (level, length) in enumerate(zip(voltages, durations, strict=False), start=1):
        setattr(clamp, f"amp{i}", level)
        setattr(clamp, f"dur{i}", length)
    if resistance is not None:
        clamp.rs = resistance
    return clamp
