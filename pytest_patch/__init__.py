"""pytest-patch: test NEURON models with pytest, serially and under MPI.

Importing it starts neither NEURON nor MPI: the plugin starts them when a session needs
them, and :mod:`pytest_patch.strategies` when it is imported.
"""

from __future__ import annotations

import patch
from patch.exceptions import ModCompileError

from . import assertions
from .assertions import (
    assert_all,
    assert_delivered,
    assert_spikes_equal,
    assert_traces_equal,
    check_broadcast_roundtrip,
    explain_vector_comparison,
    spike_times,
)
from .configs import Config, ConfigsWarning, current_config
from .fixtures import ClampFactory
from .leaks import LeakWarning, Simulator
from .recording import Recording
from .regression import (
    FeatureRegression,
    GoldenWrittenWarning,
    SpikeRegression,
    TraceRegression,
    assert_features,
)

__all__ = [
    *assertions.__all__,
    "ClampFactory",
    "Config",
    "ConfigsWarning",
    "current_config",
    "FeatureRegression",
    "GoldenWrittenWarning",
    "SpikeRegression",
    "TraceRegression",
    "assert_features",
    "LeakWarning",
    "Recording",
    "Simulator",
    "ModCompileError",
]
