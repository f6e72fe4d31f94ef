"""Spike trains compared gid by gid: matched within a window, with missing, extra and
shifted spikes named.

A raster is kept flat (gids and times sorted by gid, then time) so that the common case,
the same spikes as the golden, is decided by a few numpy operations over all gids at once;
only a failing raster is matched spike by spike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .text import float_array, near, number, round_up

# Lines of a failure report: at most this many gids are described one by one.
_SHOWN_GIDS = 10
_SHOWN_SPIKES = 6


@dataclass
class Raster:
    """Spike times by gid: ``gids`` (unique, sorted), ``counts`` and the flat ``times``."""

    gids: np.ndarray
    counts: np.ndarray
    times: np.ndarray

    @classmethod
    def from_mapping(cls, trains: Mapping[int, Any]) -> Raster:
        keys = sorted(gid for gid, times in trains.items() if len(times))
        arrays = [np.asarray(trains[gid], dtype=float) for gid in keys]
        counts = np.array([a.size for a in arrays], dtype=np.int64)
        times = np.concatenate(arrays, axis=None) if arrays else np.empty(0)
        if times.size != counts.sum() or not _ascending_within(times, counts):
            # Sorted train by train only when needed (golden trains come sorted).
            arrays = [np.sort(a) for a in arrays]
            counts = np.array([a.size for a in arrays], dtype=np.int64)
            times = np.concatenate(arrays) if arrays else np.empty(0)
        return cls(np.array(keys, dtype=np.int64), counts, times)

    @classmethod
    def from_array(cls, spikes: np.ndarray) -> Raster:
        """From a spike array with ``gid`` and ``time`` fields, in any order."""
        gids = np.asarray(spikes["gid"], dtype=np.int64)
        times = np.asarray(spikes["time"], dtype=float)
        order = _by_gid_then_time(gids, times)
        gids, times = gids[order], times[order]
        if gids.size:
            starts = np.flatnonzero(np.concatenate(([True], gids[1:] != gids[:-1])))
            unique, counts = gids[starts], np.diff(np.append(starts, gids.size))
        else:
            unique, counts = gids, np.zeros(0, dtype=np.int64)
        return cls(unique, counts.astype(np.int64), times)

    def trains(self) -> dict[int, np.ndarray]:
        """``{gid: times}``, the form of the golden file."""
        ends = np.cumsum(self.counts)
        return {
            int(gid): self.times[end - count : end]
            for gid, count, end in zip(self.gids, self.counts, ends, strict=False)
        }

    def train(self, gid: int) -> np.ndarray:
        index = np.searchsorted(self.gids, gid)
        if index == self.gids.size or self.gids[index] != gid:
            return np.empty(0)
        end = int(np.cumsum(self.counts)[index])
        return self.times[end - int(self.counts[index]) : end]

    def __len__(self) -> int:
        return int(self.times.size)


def _by_gid_then_time(gids: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The order of spikes by gid, then time: what ``np.lexsort((times, gids))`` gives,
    in a third of its time. The spikes sorted by time (gathered spikes come so), then a
    stable sort by gid, which numpy does as a radix sort when the gids span fewer than
    65 536 values."""
    if times.size < 2:
        return np.arange(times.size)
    if bool((times[1:] >= times[:-1]).all()):
        by_time = np.arange(times.size)
    else:
        by_time = np.argsort(times)  # equal times are equal values: any order of them will do
    gids = gids[by_time]
    low = int(gids.min())
    if int(gids.max()) - low < 1 << 16:
        gids = (gids - low).astype(np.uint16)
    return by_time[np.argsort(gids, kind="stable")]


def _ascending_within(times: np.ndarray, counts: np.ndarray) -> bool:
    """Whether ``times`` ascend within each train (of ``counts`` spikes, one after another)."""
    if times.size < 2:
        return True
    falls = np.diff(times) < 0
    if not falls.any():
        return True
    falls[np.cumsum(counts)[:-1] - 1] = False  # from one train to the next: allowed
    return not falls.any()


def _times(data: Any, what: str) -> np.ndarray:
    return float_array(data, what, "spike times (numbers)")


def as_raster(spikes: Any) -> Raster:
    """A raster from a spike array (``gid``, ``time`` fields), a SpikeRecorder (gathered),
    a mapping gid -> times, or one cell's times (gid 0)."""
    if hasattr(spikes, "gather") and hasattr(spikes, "local"):  # a SpikeRecorder
        spikes = spikes.gather()
    if isinstance(spikes, np.ndarray) and spikes.dtype.names:
        if not {"gid", "time"} <= set(spikes.dtype.names):
            raise TypeError(
                f"a spike array needs 'gid' and 'time' fields; this one has {spikes.dtype.names}"
            )
        raster = Raster.from_array(spikes)
    elif isinstance(spikes, Mapping):
        trains: dict[int, np.ndarray] = {}
        for gid, times_of in spikes.items():
            if isinstance(gid, (bool, float)) or not isinstance(gid, (int, np.integer)):
                raise TypeError(f"spike trains are keyed by gid (a whole number), not {gid!r}")
            trains[int(gid)] = _times(times_of, f"the spikes of gid {gid}")
        raster = Raster.from_mapping(trains)
    else:
        raster = Raster.from_mapping({0: _times(spikes, "the spike times")})
    _validate(raster)
    return raster


def _validate(raster: Raster) -> None:
    bad = ~np.isfinite(raster.times) | (raster.times < 0)
    if bad.any():
        index = int(np.argmax(bad))
        gid = int(np.repeat(raster.gids, raster.counts)[index])
        raise ValueError(
            f"gid {gid} has a spike at t = {raster.times[index]} ms: spike times must be "
            "finite and not negative (was the recording made before finitialize?)"
        )


@dataclass
class GidDifference:
    gid: int
    missing: np.ndarray
    extra: np.ndarray
    #: (expected, actual) pairs of spikes that moved by more than the window.
    shifted: list[tuple[float, float]] = field(default_factory=list)

    @property
    def first(self) -> float:
        times = [*self.missing[:1], *self.extra[:1], *(min(e, a) for e, a in self.shifted[:1])]
        return float(min(times))

    def describe(self) -> str:
        parts = []
        if self.missing.size:
            parts.append(f"missing {_list(self.missing)}")
        if self.extra.size:
            parts.append(f"extra {_list(self.extra)}")
        if self.shifted:
            moved = ", ".join(
                f"{e:.6g} -> {a:.6g} ({a - e:+.3g})" for e, a in self.shifted[:_SHOWN_SPIKES]
            )
            more = (
                f" and {len(self.shifted) - _SHOWN_SPIKES} more"
                if len(self.shifted) > _SHOWN_SPIKES
                else ""
            )
            parts.append(f"shifted {moved}{more}")
        return f"gid {self.gid}: " + "; ".join(parts)


def _list(times: np.ndarray) -> str:
    shown = ", ".join(f"{t:.6g}" for t in times[:_SHOWN_SPIKES])
    more = f", ... ({times.size} in all)" if times.size > _SHOWN_SPIKES else ""
    return f"[{shown}{more}]"


def _match(expected: np.ndarray, actual: np.ndarray, window: float) -> GidDifference:
    """Pair spikes within ``window`` in time order; pair what is left by mutual nearness."""
    i = j = 0
    missing: list[float] = []
    extra: list[float] = []
    while i < expected.size and j < actual.size:
        if abs(actual[j] - expected[i]) <= window:
            i, j = i + 1, j + 1
        elif actual[j] < expected[i]:
            extra.append(float(actual[j]))
            j += 1
        else:
            missing.append(float(expected[i]))
            i += 1
    missing += [float(t) for t in expected[i:]]
    extra += [float(t) for t in actual[j:]]
    shifted: list[tuple[float, float]] = []
    if missing and extra:
        m, x = np.array(missing), np.array(extra)
        distance = np.abs(m[:, None] - x[None, :])
        nearest_x, nearest_m = distance.argmin(axis=1), distance.argmin(axis=0)
        pairs = [(k, int(nearest_x[k])) for k in range(m.size) if nearest_m[nearest_x[k]] == k]
        shifted = [(float(m[k]), float(x[j])) for k, j in pairs]
        used_m, used_x = {k for k, _ in pairs}, {j for _, j in pairs}
        missing = [t for k, t in enumerate(missing) if k not in used_m]
        extra = [t for j, t in enumerate(extra) if j not in used_x]
    return GidDifference(0, np.array(missing), np.array(extra), shifted)


@dataclass
class SpikeComparison:
    expected: Raster
    actual: Raster
    window: float
    differences: list[GidDifference]
    #: The smallest window that passes, or None when spike counts differ.
    needed_window: float | None

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def first(self) -> tuple[float, int] | None:
        """Where the rasters first diverge: (time, gid)."""
        if not self.differences:
            return None
        worst = min(self.differences, key=lambda d: d.first)
        return worst.first, worst.gid

    def describe(self) -> list[str]:
        e, a = self.expected, self.actual
        lines = [
            f"{len(self.differences)} of {len(set(e.gids) | set(a.gids))} gids differ "
            f"(golden: {len(e)} spikes of {e.gids.size} gids; run: {len(a)} spikes of "
            f"{a.gids.size} gids; window {self.window:g} ms)"
        ]
        first = self.first
        if first is not None:
            lines.append(f"the rasters diverge at t = {first[0]:.6g} ms (gid {first[1]})")
        for difference in self.differences[:_SHOWN_GIDS]:
            lines.append("  " + difference.describe())
        if len(self.differences) > _SHOWN_GIDS:
            lines.append(f"  ... and {len(self.differences) - _SHOWN_GIDS} more gids")
        if self.needed_window is None:
            counts = [d.gid for d in self.differences if d.missing.size or d.extra.size]
            lines.append(
                f"no window passes: gid{'s' if len(counts) > 1 else ''} "
                f"{', '.join(map(str, counts[:_SHOWN_GIDS]))} "
                f"{'have' if len(counts) > 1 else 'has'} a different number of spikes"
            )
        else:
            lines.append(f"would pass with window={round_up(self.needed_window)} ms")
        return lines

    def explain(self, by_gid: bool = True) -> str:
        """An assertion's failure: the gids that fired on one side only, and spike by spike
        where the first differing gid's trains part (``by_gid=False``: one train, gid 0)."""
        if not by_gid:
            return _positional(self.actual.train(0), self.expected.train(0), self.window) or ""
        actual, expected = set(self.actual.gids.tolist()), set(self.expected.gids.tolist())
        problems = []
        if actual - expected:
            problems.append(f"gids that fired but should not have: {sorted(actual - expected)}")
        if expected - actual:
            problems.append(f"gids that should have fired but did not: {sorted(expected - actual)}")
        differing = [d.gid for d in self.differences if d.gid in actual & expected]
        if differing:
            gid = differing[0]
            found = _positional(self.actual.train(gid), self.expected.train(gid), self.window)
            more = f" (and {len(differing) - 1} more gids)" if len(differing) > 1 else ""
            problems.append(f"gid {gid}{more}: {found}")
        return "\n  " + "\n  ".join(problems)


def _positional(actual: np.ndarray, expected: np.ndarray, atol: float) -> str | None:
    """Where two sorted trains first differ, spike by spike, or ``None`` when they agree."""
    n = min(len(actual), len(expected))
    off = np.flatnonzero(np.abs(actual[:n] - expected[:n]) > atol)
    if not off.size and len(actual) == len(expected):
        return None
    index = int(off[0]) if off.size else n
    counts = (
        ""
        if len(actual) == len(expected)
        else (f"{len(actual)} spikes, expected {len(expected)}; ")
    )
    if index < n:
        first = (
            f"first difference at spike #{index}: actual {number(actual[index])} ms, expected "
            f"{number(expected[index])} ms (off by {number(actual[index] - expected[index])} ms)"
        )
    elif index < len(actual):
        first = f"first extra spike #{index} at {number(actual[index])} ms"
    else:
        first = f"first missing spike #{index} at {number(expected[index])} ms"
    return (
        f"{counts}{first}\n    actual   {near(actual, index)}\n    expected {near(expected, index)}"
    )


def compare(expected: Raster, actual: Raster, window: float) -> SpikeComparison:
    """Match the actual spikes with the expected ones, gid by gid, within ``window`` ms:
    equal when every gid has as many spikes on both sides, each within ``window``."""
    same_shape = np.array_equal(expected.gids, actual.gids) and np.array_equal(
        expected.counts, actual.counts
    )
    if same_shape:
        shift = np.abs(actual.times - expected.times)
        largest = float(shift.max(initial=0.0))
        needed: float | None = largest
        if largest <= window or not (shift > window).any():  # (NaN is not over the window)
            return SpikeComparison(expected, actual, window, [], needed)
    else:
        needed = None
    differences = []
    for gid in np.union1d(expected.gids, actual.gids):
        e, a = expected.train(int(gid)), actual.train(int(gid))
        if e.size == a.size and not (np.abs(a - e) > window).any():
            continue
        difference = _match(e, a, window)
        difference.gid = int(gid)
        differences.append(difference)
    return SpikeComparison(expected, actual, window, differences, needed)
