"""What a failed trace check tells a modeller: what happened to a voltage trace's spikes,
and where the difference first becomes large.

A trace counts as a membrane potential with spikes when it (golden or run) goes below
:data:`REST` mV and crosses :data:`THRESHOLD` mV upwards; its spikes are those upward
crossings, timed by linear interpolation between samples. A spike moved by more than
:data:`SHIFT` ms is *shifted*; one without a partner is *missing* or *extra*. A difference
is *large* where it exceeds :data:`LARGE` times the golden trace's range (max - min).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..compare import spikes

if TYPE_CHECKING:
    from ..compare import Trace, TraceComparison

#: Spikes are upward crossings of this voltage (mV).
THRESHOLD = 0.0
#: A trace that never goes below this (mV) is not taken for a membrane potential.
REST = -30.0
#: Spikes closer than this (ms) are the same spike, as in spike_regression's default window.
SHIFT = 1e-3
#: A difference is large beyond this fraction of the golden trace's range.
LARGE = 0.1


def crossings(
    time: np.ndarray | None, values: np.ndarray, threshold: float = THRESHOLD
) -> np.ndarray:
    """The times (or fractional indices, without ``time``) of upward crossings of ``threshold``."""
    values = np.asarray(values, dtype=float)
    below, above = values[:-1] < threshold, values[1:] >= threshold
    index = np.flatnonzero(below & above)
    fraction = (threshold - values[index]) / (values[index + 1] - values[index])
    if time is None:
        return index + fraction
    time = np.asarray(time, dtype=float)
    return time[index] + fraction * (time[index + 1] - time[index])


def is_spiking(*values: np.ndarray) -> bool:
    """Whether these traces look like a membrane potential (mV) that spikes."""
    return any(v.size > 1 and float(v.min()) < REST and crossings(None, v).size > 0 for v in values)


@dataclass
class SpikeChange:
    """How a voltage trace's spikes moved from the golden's."""

    expected: np.ndarray
    actual: np.ndarray
    #: (golden time, run time) of spikes moved by more than :data:`SHIFT`.
    shifted: list[tuple[float, float]] = field(default_factory=list)
    missing: np.ndarray = field(default_factory=lambda: np.empty(0))
    extra: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def unchanged(self) -> bool:
        return not self.shifted and not self.missing.size and not self.extra.size

    @property
    def largest_shift(self) -> float:
        """The largest distance between partnered spikes (0 without any)."""
        if self.shifted:
            return max(abs(a - e) for e, a in self.shifted)
        n = min(self.expected.size, self.actual.size)
        if self.expected.size == self.actual.size and n:
            return float(np.abs(self.actual - self.expected).max())
        return 0.0

    def describe(self, unit: str = "ms") -> str:
        n = self.expected.size
        head = f"spikes (upward crossings of {THRESHOLD:g} mV): "
        if self.unchanged:
            return head + f"all {n} of the golden's within {SHIFT:g} {unit} of this run's"
        parts = []
        if self.shifted:
            e, a = max(self.shifted, key=lambda pair: abs(pair[1] - pair[0]))
            parts.append(
                f"{len(self.shifted)} of {n} shifted by more than {SHIFT:g} {unit}, largest "
                f"{a - e:+.3g} {unit} at {e:.6g} {unit}"
            )
        if self.missing.size:
            parts.append(f"{self.missing.size} missing ({_times(self.missing, unit)})")
        if self.extra.size:
            parts.append(f"{self.extra.size} extra ({_times(self.extra, unit)})")
        return head + "; ".join(parts) + f" (golden: {n} spikes, run: {self.actual.size})"


def _times(times: np.ndarray, unit: str) -> str:
    shown = ", ".join(f"{t:.6g}" for t in times[:4])
    return f"at {shown}{', ...' if times.size > 4 else ''} {unit}"


def spike_change(expected: Trace, actual: Trace) -> SpikeChange:
    """Match the golden's spikes with the run's (each on its own time points)."""
    e = crossings(expected[0], expected[1])
    a = crossings(actual[0], actual[1])
    matched = spikes._match(e, a, SHIFT)
    return SpikeChange(e, a, matched.shifted, matched.missing, matched.extra)


def first_large(comparison: TraceComparison) -> str | None:
    """Where the difference first exceeds :data:`LARGE` of the golden's range."""
    expected = comparison.expected
    if expected.size == 0:
        return None
    span = float(expected.max() - expected.min()) or float(np.abs(expected).max())
    if span == 0:
        return None
    limit = LARGE * span
    large = comparison.error > limit
    what = f"{LARGE:.0%} of the golden's range ({span:.3g})"
    if not large.any():
        return f"the difference stays within {what}"
    i = int(np.argmax(large))
    return (
        f"the difference first exceeds {what} at {comparison._at(i)}: expected "
        f"{expected[i]:.6g}, got {comparison.actual[i]:.6g}"
    )


def describe(expected: Trace, actual: Trace, comparison: TraceComparison) -> list[str]:
    """Lines added to a failed trace's report: the first large difference and, for a
    spiking voltage trace, what happened to its spikes."""
    if comparison.ok:
        return []
    lines = []
    large = first_large(comparison)
    if large is not None:
        lines.append(f"    {large}")
    if is_spiking(expected[1], actual[1]):
        unit = "ms" if expected[0] is not None and actual[0] is not None else "steps"
        if unit == "steps":
            expected, actual = (None, expected[1]), (None, actual[1])
        lines.append(f"    {spike_change(expected, actual).describe(unit)}")
    return lines


def facts(expected: Trace, actual: Trace) -> dict[str, float]:
    """What a calibration needs to judge a trace's spread: the golden's range and, for a
    spiking voltage trace, both spike counts and the largest spike shift (ms)."""
    values = np.asarray(expected[1], dtype=float)
    out = {"range": float(values.max() - values.min()) if values.size else 0.0}
    if expected[0] is not None and actual[0] is not None and is_spiking(expected[1], actual[1]):
        change = spike_change(expected, actual)
        out.update(
            spikes_golden=float(change.expected.size),
            spikes_run=float(change.actual.size),
            spike_shift=change.largest_shift,
        )
    return out
