"""One comparison engine for traces and spikes, used by the assertions and the goldens.

:func:`compare_traces` puts two traces on one time base and compares them point by
point (``|actual - expected| <= atol + rtol * |expected|``); :func:`compare_spikes`
matches two rasters gid by gid within a window. Each returns a result object that knows
whether it passed and how to describe its failure: ``describe()`` gives the lines of a
regression report, ``explain()`` the short message of an assertion.
"""

from __future__ import annotations

from .spikes import GidDifference, Raster, SpikeComparison, as_raster, compare as compare_spikes
from .traces import Trace, TraceComparison, as_trace, as_traces, compare as compare_traces

__all__ = [
    "GidDifference",
    "Raster",
    "SpikeComparison",
    "Trace",
    "TraceComparison",
    "as_raster",
    "as_trace",
    "as_traces",
    "compare_spikes",
    "compare_traces",
]
