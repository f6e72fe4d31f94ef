"""Traces compared on one time base, with what a failure needs to say.

A trace is ``(time, values)``; ``time`` is ``None`` for a bare Vector, which is then
compared point by point. When the actual time points differ from the expected ones
(CVode, another ``dt``), the actual trace is interpolated linearly onto the expected
time points: fine for smooth traces, coarse across a spike's upstroke, where a spike
check is the better check (docs/regression.md). A point passes when
``|actual - expected| <= atol + rtol * |expected|`` (NaN passes only against NaN).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..recording import Recording
from .text import float_array, near, number, round_up

Trace = tuple["np.ndarray | None", np.ndarray]


def as_trace(name: str, data: Any) -> Trace:
    """``data`` (a Recording, ``(time, values)`` or a Vector/array) as ``(time, values)``."""
    what = f"trace {name!r}"
    if isinstance(data, Recording):
        time, values = data.time, data.values
    elif isinstance(data, tuple) and len(data) == 2:
        time, values = float_array(data[0], f"the time of {what}"), float_array(data[1], what)
    else:
        time, values = None, float_array(data, what)
    if values.size == 0:
        raise ValueError(
            f"{what} has no points: record it before the run, and run the simulation "
            "before the check"
        )
    if time is not None and time.shape != values.shape:
        raise ValueError(f"{what} has {values.size} values but {time.size} time points")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        where = f"t = {time[bad[0]]:g} ms" if time is not None else f"index {bad[0]}"
        raise ValueError(
            f"{what} has {bad.size} NaN or infinite values, the first at {where}: "
            "the simulation diverged (a too large dt, a bad parameter) before the check"
        )
    if time is not None and time.size > 1 and np.any(np.diff(time) < 0):
        raise ValueError(f"the time of {what} goes backwards")
    return time, values


def as_traces(traces: Any) -> dict[str, Trace]:
    """A mapping of names to traces, checked; refuses anything else with a clear message."""
    if not isinstance(traces, Mapping):
        raise TypeError(
            "trace_regression.check takes a mapping of names to traces, e.g. "
            f"{{'soma': recording}}, not {type(traces).__name__}"
        )
    if not traces:
        raise ValueError("trace_regression.check got no traces: pass {'name': recording, ...}")
    out: dict[str, Trace] = {}
    for name, data in traces.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"trace names must be non-empty strings without '/', not {name!r}")
        out[name] = as_trace(name, data)
    return out


@dataclass
class TraceComparison:
    """How one trace compares with another (its golden), both on one time base."""

    name: str
    time: np.ndarray | None
    expected: np.ndarray
    actual: np.ndarray
    rtol: float
    atol: float
    #: Why the trace cannot be compared point by point (a shorter run, a length change).
    mismatch: str | None = None

    def __post_init__(self) -> None:
        # In place, without temporaries: this runs over every point of every trace.
        error = np.subtract(self.actual, self.expected)
        np.abs(error, out=error)
        allowed = np.abs(self.expected)
        allowed *= self.rtol
        allowed += self.atol
        self.error = error
        bad = np.less_equal(error, allowed)
        np.logical_not(bad, out=bad)
        if bad.any() or allowed.max(initial=0.0) == np.inf:
            # Infinities or NaN: numpy's rule (equal infinities, NaN against NaN pass).
            close = np.isclose(
                self.actual, self.expected, rtol=self.rtol, atol=self.atol, equal_nan=True
            )
            bad = np.logical_not(close, out=close)
        self.bad = bad

    @functools.cached_property
    def relative(self) -> np.ndarray:
        """The relative error of each point (0 where there is none); for a failure report."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.error > 0, self.error / np.abs(self.expected), 0.0)

    @property
    def ok(self) -> bool:
        return self.mismatch is None and not self.bad.any()

    def needed_atol(self) -> float:
        """The smallest ``atol`` that passes at this ``rtol``."""
        excess = self.error - self.rtol * np.abs(self.expected)
        return float(max(0.0, excess.max(initial=0.0)))

    def needed_rtol(self) -> float:
        """The smallest ``rtol`` that passes at this ``atol`` (inf where the golden is 0)."""
        excess = self.error - self.atol
        over = excess > 0
        if not over.any():
            return 0.0
        with np.errstate(divide="ignore"):
            return float((excess[over] / np.abs(self.expected[over])).max())

    def _at(self, index: int) -> str:
        return f"t = {self.time[index]:.6g} ms" if self.time is not None else f"index {index}"

    def describe(self) -> list[str]:
        """The lines of a failure report for this trace."""
        lines = [f"{self.name!r}:"]
        if self.mismatch:
            lines.append(f"    {self.mismatch}")
        if self.bad.any():
            first = int(np.argmax(self.bad))
            biggest, worst = int(np.argmax(self.error)), int(np.argmax(self.relative))
            lines += [
                f"    {int(self.bad.sum())} of {self.bad.size} points differ; the first at "
                f"{self._at(first)}: expected {self.expected[first]:.6g}, got "
                f"{self.actual[first]:.6g}",
                f"    largest absolute error {self.error[biggest]:.3g} at {self._at(biggest)}; "
                f"largest relative error {self.relative[worst]:.3g} at {self._at(worst)}",
                f"    would pass with atol={round_up(self.needed_atol())} (at rtol={self.rtol:g}) "
                f"or rtol={round_up(self.needed_rtol())} (at atol={self.atol:g})",
            ]
        return lines

    def explain(self, times: np.ndarray | None = None) -> list[str]:
        """The lines of an assertion's failure: the first differing point (at its time,
        from ``times``, when given), the largest difference, and the values near the first."""
        if not self.bad.any():
            return []
        a, e, wrong = self.actual, self.expected, np.flatnonzero(self.bad)
        first = int(wrong[0])
        largest = int(wrong[np.argmax(np.nan_to_num(self.error[wrong], nan=np.inf))])

        def where(i: int) -> str:
            at = f"index {i}"
            if times is not None and i < times.size:
                at += f" (t = {number(times[i])} ms)"
            return at

        relative = self.error[first] / abs(e[first]) if e[first] else np.inf
        lines = [
            f"{wrong.size} of {a.size} points differ (rtol={self.rtol:g}, atol={self.atol:g}); "
            f"first at {where(first)}: actual {number(a[first])}, expected {number(e[first])}, "
            f"difference {number(self.error[first])} (relative {number(relative)})"
        ]
        if largest != first:
            lines.append(f"largest difference {number(self.error[largest])} at {where(largest)}")
        lines.append(f"actual   near the first: {near(a, first)}")
        lines.append(f"expected near the first: {near(e, first)}")
        return lines


def compare(name: str, expected: Trace, actual: Trace, rtol: float, atol: float) -> TraceComparison:
    """Compare an ``actual`` trace with an ``expected`` one on the expected time points
    (interpolated when the time bases differ; cut to the shorter one without time)."""
    (t_e, v_e), (t_a, v_a) = expected, actual
    mismatch = None
    if t_e is not None and t_a is not None and not _same_time(t_e, t_a):
        # A variable-step run may stop its recording one step short of the end.
        slack = 1e-9 + (float(np.diff(t_a).max()) if t_a.size > 1 else 0.0)
        if t_a[0] > t_e[0] + 1e-9 or t_a[-1] < t_e[-1] - slack:
            mismatch = (
                f"the run covers {t_a[0]:g} to {t_a[-1]:g} ms, the golden {t_e[0]:g} to "
                f"{t_e[-1]:g} ms"
            )
        keep = (t_e >= t_a[0]) & (t_e <= t_a[-1])
        if not keep.all():
            t_e, v_e = t_e[keep], v_e[keep]
        v_a = np.interp(t_e, t_a, v_a)
        return TraceComparison(name, t_e, v_e, v_a, rtol, atol, mismatch)
    time = t_e if t_e is not None else t_a
    if v_e.size != v_a.size:
        mismatch = f"the golden has {v_e.size} points, the run {v_a.size}"
        n = min(v_e.size, v_a.size)
        v_e, v_a = v_e[:n], v_a[:n]
        time = None if time is None else time[:n]
    return TraceComparison(name, time, v_e, v_a, rtol, atol, mismatch)


def _same_time(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and (
        np.array_equal(a, b) or bool(np.allclose(a, b, rtol=0, atol=1e-9))
    )
