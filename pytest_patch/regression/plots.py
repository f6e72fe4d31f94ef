"""Pictures of a failed regression check: expected, actual and their difference.

matplotlib is an optional extra (``pip install "nrn-patch[plots]"``); without it a
failure is reported in text only. Figures are drawn with matplotlib's object interface
on the Agg canvas, so the user's pyplot state and backend are left alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..compare import SpikeComparison, TraceComparison

# Traces drawn per picture; the report names the others.
_MAX_TRACES = 4
_EXPECTED, _ACTUAL, _BAD = "#1f77b4", "#d62728", "#ff7f0e"


def available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def _figure(rows: int, columns: int = 1, height: float = 2.4) -> tuple[Any, Any]:
    figure_module = importlib.import_module("matplotlib.figure")
    agg = importlib.import_module("matplotlib.backends.backend_agg")
    figure = figure_module.Figure(figsize=(9, height * rows), layout="constrained")
    agg.FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def traces(path: Path, title: str, comparisons: Sequence[TraceComparison]) -> Path:
    """One row pair per differing trace: expected and actual above, difference below."""
    shown = list(comparisons[:_MAX_TRACES])
    figure, axes = _figure(2 * len(shown))
    for row, comparison in enumerate(shown):
        top, bottom = axes[2 * row][0], axes[2 * row + 1][0]
        x = comparison.time if comparison.time is not None else np.arange(comparison.expected.size)
        unit = "t (ms)" if comparison.time is not None else "index"
        top.plot(x, comparison.expected, color=_EXPECTED, lw=1.6, label="expected (golden)")
        top.plot(x, comparison.actual, color=_ACTUAL, lw=0.9, ls="--", label="actual (this run)")
        top.set_title(
            f"{comparison.name}: {int(comparison.bad.sum())} of {comparison.bad.size} "
            "points differ",
            fontsize=10,
            loc="left",
        )
        top.legend(loc="upper right", fontsize=8, frameon=False)
        difference = comparison.actual - comparison.expected
        band = comparison.atol + comparison.rtol * np.abs(comparison.expected)
        bottom.fill_between(x, -band, band, color="0.85", label="tolerance")
        bottom.plot(x, difference, color="k", lw=0.9, label="actual − expected")
        if comparison.bad.any():
            bad = comparison.bad
            bottom.plot(x[bad], difference[bad], ".", color=_BAD, ms=3, label="outside tolerance")
            first = x[int(np.argmax(bad))]
            for axis in (top, bottom):
                axis.axvline(first, color=_BAD, lw=0.8, ls=":")
        bottom.set_xlabel(unit, fontsize=8)
        bottom.legend(loc="upper right", fontsize=8, frameon=False)
        bottom.sharex(top)
        for axis in (top, bottom):
            axis.tick_params(labelsize=8)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def raster(path: Path, title: str, comparison: SpikeComparison) -> Path:
    """Expected and actual rasters side by side per gid, with missing, extra and shifted
    spikes circled and the time the rasters diverge marked."""
    figure, axes = _figure(1, height=4.5)
    axis = axes[0][0]
    gids = np.union1d(comparison.expected.gids, comparison.actual.gids)
    size = float(np.clip(260 / max(gids.size, 1), 2, 14))
    for raster_, color, offset, label in (
        (comparison.expected, _EXPECTED, -0.18, "expected (golden)"),
        (comparison.actual, _ACTUAL, 0.18, "actual (this run)"),
    ):
        rows = np.repeat(raster_.gids, raster_.counts)
        axis.plot(raster_.times, rows + offset, "|", color=color, ms=size, mew=1.5, label=label)
    marks = (
        ("missing", "x", [(t, d.gid - 0.18) for d in comparison.differences for t in d.missing]),
        ("extra", "+", [(t, d.gid + 0.18) for d in comparison.differences for t in d.extra]),
        ("shifted", "o", [(a, d.gid + 0.18) for d in comparison.differences for _, a in d.shifted]),
    )
    for label, marker, points in marks:
        if points:
            t, g = zip(*points, strict=False)
            axis.plot(t, g, marker, color=_BAD, ms=max(size, 7), mfc="none", mew=1.2, label=label)
    first = comparison.first
    if first is not None:
        axis.axvline(first[0], color=_BAD, lw=0.8, ls=":", label=f"diverge at {first[0]:.4g} ms")
    if gids.size:
        axis.set_ylim(gids.min() - 0.6, gids.max() + 0.6)
    if 0 < gids.size <= 24:
        axis.set_yticks(gids)
    else:
        ticker = importlib.import_module("matplotlib.ticker")
        axis.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axis.set_xlabel("t (ms)", fontsize=9)
    axis.set_ylabel("gid", fontsize=9)
    axis.tick_params(labelsize=8)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    axis.set_title(title, fontsize=10, loc="left")
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
