"""The regression fixtures, ``trace_regression``, ``spike_regression``,
``feature_regression``, and the check object each gives a test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from .._validate import tolerance
from ..compare import Raster, Trace, as_raster, as_traces
from . import features as features_module
from .formats import Tolerances
from .golden_check import ATOL, RTOL, WINDOW, GoldenCheck, per_name
from .session import regression_key


class TraceRegression(GoldenCheck):
    """``trace_regression.check(traces, *, rtol=, atol=, tolerances=None, name=None)``."""

    kind = "traces"
    fixture = "trace_regression"

    def check(
        self,
        traces_: Mapping[str, Any],
        *,
        rtol: float = RTOL,
        atol: float = ATOL,
        tolerances: Mapping[str, Mapping[str, float]] | None = None,
        name: str | None = None,
    ) -> None:
        """Compare ``traces_`` (names to Recordings, ``(time, values)`` pairs or Vectors)
        with this test's golden traces (collective under MPI).

        A run on another time base (CVode, another ``dt``) is interpolated onto the
        golden's time points. A point passes when ``|actual - expected| <= atol + rtol *
        |expected|``; ``tolerances={"soma": {"atol": 0.01}}`` overrides per name, and
        tolerances stored by ``--nrn-calibrate`` widen the defaults.
        """
        __tracebackhide__ = True

        def local() -> dict[str, Trace]:
            tolerance("rtol", rtol)
            tolerance("atol", atol)
            per_name(tolerances, ("rtol", "atol"))
            return as_traces(traces_)

        def allowed() -> Tolerances:
            return Tolerances(rtol=rtol, atol=atol, per_name=per_name(tolerances, ("rtol", "atol")))

        self._check(name, local, lambda parts: _merge(parts, "trace"), allowed)


class SpikeRegression(GoldenCheck):
    """``spike_regression.check(spikes, *, window=, name=None)``."""

    kind = "spikes"
    fixture = "spike_regression"

    def check(self, spikes_: Any, *, window: float = WINDOW, name: str | None = None) -> None:
        """Compare spikes with this test's golden spikes, gid by gid (collective under MPI).

        ``spikes_`` is a spike array (``p.parallel.record_spikes().gather()``), a
        SpikeRecorder, a mapping gid -> times, or one cell's times. Each spike must have
        a partner within ``window`` ms in the golden; a window stored by
        ``--nrn-calibrate`` widens the default.
        """
        __tracebackhide__ = True

        def local() -> Raster:
            tolerance("window", window)
            return as_raster(spikes_)

        self._check(name, local, _same_raster, lambda: Tolerances(window=window))


class FeatureRegression(GoldenCheck):
    """``feature_regression.check(trace, *, stimulus=(start, end), features=None,
    tolerances=None)``."""

    kind = "features"
    fixture = "feature_regression"

    def check(
        self,
        trace: Any,
        *,
        stimulus: Sequence[float],
        features: Sequence[str] | None = None,
        tolerances: Mapping[str, Mapping[str, float]] | None = None,
        rtol: float = RTOL,
        atol: float = ATOL,
        settings: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        """Compare eFEL features of a voltage ``trace`` with this test's golden values.

        ``features`` defaults to :data:`~pytest_patch.regression.features.DEFAULT_FEATURES`;
        ``tolerances={"AP_amplitude": {"atol": 0.5}}`` overrides per feature. Under MPI,
        ranks that do not hold the trace pass ``None``; the lowest rank with one is used.
        """
        __tracebackhide__ = True
        names = list(features) if features is not None else list(features_module.DEFAULT_FEATURES)

        def local() -> Any:
            __tracebackhide__ = True
            tolerance("rtol", rtol)
            tolerance("atol", atol)
            per_name(tolerances, ("rtol", "atol"))
            if trace is None:
                return None
            return features_module.compute(trace, stimulus, names, settings)

        def allowed() -> Tolerances:
            return Tolerances(rtol=rtol, atol=atol, per_name=per_name(tolerances, ("rtol", "atol")))

        self._check(name, local, _first_computed, allowed)


def _merge(parts: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """One mapping from every rank's; a name twice must mean the same data."""
    merged: dict[str, Any] = {}
    owner: dict[str, int] = {}
    for rank, part in enumerate(parts):
        for key, value in part.items():
            if key in merged and not all(
                (a is None and b is None)
                or (a is not None and b is not None and np.array_equal(a, b))
                for a, b in zip(merged[key], value, strict=False)
            ):
                raise ValueError(
                    f"{what} {key!r} was given on ranks {owner[key]} and {rank} with different "
                    "data: give each rank's traces their own names (e.g. by gid)"
                )
            merged.setdefault(key, value)
            owner.setdefault(key, rank)
    return dict(sorted(merged.items()))


def _same_raster(parts: list[Raster]) -> Raster:
    """The raster every rank passed (they must all pass the same)."""
    raster = parts[0]
    for other in parts[1:]:
        if not (
            np.array_equal(other.gids, raster.gids) and np.array_equal(other.times, raster.times)
        ):
            raise ValueError(
                "the ranks passed different spikes: pass every rank's spikes, "
                "p.parallel.record_spikes().gather(), on every rank"
            )
    return raster


def _first_computed(parts: list[Any]) -> Any:
    """The features of the lowest rank that held the trace."""
    computed = next((part for part in parts if part is not None), None)
    if computed is None:
        raise ValueError("feature_regression.check got no trace (None on every rank)")
    return computed


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
    """Compare spikes with this test's golden spikes, gid by gid:
    ``spike_regression.check(spikes)``.

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
