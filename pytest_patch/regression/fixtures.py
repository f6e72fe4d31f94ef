"""The regression fixtures: ``trace_regression``, ``spike_regression``, ``feature_regression``."""

from __future__ import annotations

import pytest

from .golden_check import FeatureRegression, SpikeRegression, TraceRegression
from .session import regression_key


@pytest.fixture(name="trace_regression")
def trace_regression_fixture(request: pytest.FixtureRequest) -> TraceRegression:
    """Compare traces with this test's golden traces: ``trace_regression.check({"soma": v})``.

    Example::

        def test_soma_trace(p, section, iclamp, recording, trace_regression):
            section.insert("hh")
            iclamp(section, amp=0.2, delay=5, duration=40)
            v = recording(section)
            p.run(50)
            trace_regression.check({"soma": v}, atol=1e-6)
    """
    return TraceRegression(request, request.config.stash[regression_key])


@pytest.fixture(name="spike_regression")
def spike_regression_fixture(request: pytest.FixtureRequest) -> SpikeRegression:
    """Compare spikes with this test's golden spikes, gid by gid: ``spike_regression.check(spikes)``.

    Example::

        def test_ring_raster(p, spike_regression):
            ring = build_ring(p)               # the model's own code
            spikes = p.parallel.record_spikes()
            p.run(100)
            spike_regression.check(spikes.gather(), window=0.01)
    """
    return SpikeRegression(request, request.config.stash[regression_key])


@pytest.fixture(name="feature_regression")
def feature_regression_fixture(request: pytest.FixtureRequest) -> FeatureRegression:
    """Compare eFEL features of a voltage trace with golden values (needs eFEL).

    Example::

        def test_firing(p, section, iclamp, recording, feature_regression):
            section.insert("hh")
            iclamp(section, amp=0.3, delay=10, duration=80)
            v = recording(section)
            p.run(100)
            feature_regression.check(v, stimulus=(10, 90))
    """
    return FeatureRegression(request, request.config.stash[regression_key])
