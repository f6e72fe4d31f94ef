"""Regression and validation: golden traces, spikes and features, and experimental bands.

``trace_regression``, ``spike_regression`` and ``feature_regression`` compare a test's
results with golden files beside its module (:mod:`.golden`); ``assert_features``
validates features against experimental means and standard deviations.
"""

from __future__ import annotations

from .features import assert_features
from .fixtures import FeatureRegression, SpikeRegression, TraceRegression
from .golden_check import GoldenWrittenWarning
from .session import addoption, configure

__all__ = [
    "FeatureRegression",
    "GoldenWrittenWarning",
    "SpikeRegression",
    "TraceRegression",
    "addoption",
    "assert_features",
    "configure",
]
