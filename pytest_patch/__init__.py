"""pytest-patch: test NEURON models with pytest, serially and under MPI."""

from __future__ import annotations

from . import checks
from .checks import (
    assert_all,
    assert_delivered,
    assert_spikes_equal,
    assert_traces_equal,
    check_broadcast_roundtrip,
    explain_vector_comparison,
    spike_times,
)
from .fixtures import ClampFactory, LeakWarning, Recording, Simulator
from .mods import ModBuild, ModCompileError

__all__ = [
    *checks.__all__,
    "ClampFactory",
    "LeakWarning",
    "Recording",
    "Simulator",
    "ModBuild",
    "ModCompileError",
]
