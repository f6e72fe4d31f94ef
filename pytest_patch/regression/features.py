"""Electrophysiology features of a voltage trace, through eFEL, and validation bands.

eFEL is an optional extra (``pip install "nrn-patch[features]"``): it is imported when a
feature is first asked for, so the plugin loads without it.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..compare import as_trace
from ..compare.text import round_up

#: Features a ``feature_regression.check`` without ``features=`` compares: they describe
#: both a silent and a firing cell (a feature eFEL cannot compute is stored as null).
DEFAULT_FEATURES = (
    "spike_count",
    "time_to_first_spike",
    "mean_frequency",
    "AP_amplitude",
    "AHP_depth",
    "voltage_base",
    "steady_state_voltage_stimend",
)

Features = dict[str, "np.ndarray | None"]


def _efel() -> Any:
    __tracebackhide__ = True
    try:
        return importlib.import_module("efel")
    except ImportError:
        raise ImportError(
            "feature checks compute features with eFEL, which is not installed: "
            'pip install "nrn-patch[features]" (or pip install efel)'
        ) from None


def _stimulus(stimulus: Any) -> tuple[float, float]:
    try:
        start, end = (float(x) for x in stimulus)
    except (TypeError, ValueError):
        raise TypeError(f"stimulus must be (start, end) in ms, not {stimulus!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start < end:
        raise ValueError(f"stimulus must be (start, end) with 0 <= start < end, not {stimulus!r}")
    return start, end


def compute(
    trace: Any,
    stimulus: Any,
    features: Iterable[str],
    settings: Mapping[str, Any] | None = None,
) -> Features:
    """The eFEL ``features`` of a voltage ``trace`` (a Recording or ``(time, values)``).

    A feature eFEL cannot compute on this trace (``AP_amplitude`` without spikes) is
    ``None``; an unknown feature name raises ``ValueError`` naming it.
    """
    __tracebackhide__ = True
    time, values = as_trace("voltage", trace)
    if time is None:
        raise TypeError(
            "features need the time of each point: pass a Recording or (time, values), "
            "not a bare Vector"
        )
    start, end = _stimulus(stimulus)
    if end > time[-1] + 1e-9:
        raise ValueError(f"the stimulus ends at {end:g} ms but the trace at {time[-1]:g} ms")
    names = list(features)
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"features must be a non-empty list of eFEL feature names, not {names!r}")
    efel = _efel()
    unknown = sorted(set(names) - set(efel.get_feature_names()))
    if unknown:
        raise ValueError(
            f"eFEL has no feature {', '.join(map(repr, unknown))}; "
            "efel.get_feature_names() lists them"
        )
    efel.reset()
    try:
        for key, value in (settings or {}).items():
            efel.set_setting(key, value)
        result = efel.get_feature_values(
            [{"T": time, "V": values, "stim_start": [start], "stim_end": [end]}],
            names,
            raise_warnings=False,
        )[0]
    finally:
        efel.reset()
    return {
        name: None if result.get(name) is None else np.asarray(result[name], dtype=float).ravel()
        for name in names
    }


def _summary(values: np.ndarray | None) -> float | None:
    """One number per feature: its value, or the mean of a per-spike feature."""
    if values is None or values.size == 0:
        return None
    return float(values.mean())


def z_scores(
    trace: Any,
    expected: Mapping[str, Sequence[float]],
    *,
    stimulus: Any,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, tuple[float | None, float, float, float | None]]:
    """``{feature: (value, mean, sd, z)}`` for ``expected`` ``{feature: (mean, sd)}``."""
    bands: dict[str, tuple[float, float]] = {}
    for name, band in expected.items():
        try:
            mean, sd = (float(x) for x in band)
        except (TypeError, ValueError):
            raise TypeError(f"expected[{name!r}] must be (mean, sd), not {band!r}") from None
        if not (math.isfinite(mean) and math.isfinite(sd)) or sd <= 0:
            raise ValueError(f"expected[{name!r}] = {band!r}: sd must be a positive number")
        bands[name] = (mean, sd)
    if not bands:
        raise ValueError("expected is empty: give {feature: (mean, sd)} for each feature")
    values = compute(trace, stimulus, bands, settings)
    out: dict[str, tuple[float | None, float, float, float | None]] = {}
    for name, (mean, sd) in bands.items():
        value = _summary(values[name])
        out[name] = (value, mean, sd, None if value is None else (value - mean) / sd)
    return out


def assert_features(
    trace: Any,
    expected: Mapping[str, Sequence[float]],
    *,
    stimulus: Any,
    k: float = 2.0,
    settings: Mapping[str, Any] | None = None,
) -> None:
    """Assert each eFEL feature of ``trace`` lies within ``k`` sd of experimental data.

    ``expected`` maps feature names to ``(mean, sd)``; ``stimulus`` is ``(start, end)`` of
    the stimulus in ms; a per-spike feature is summarised by its mean; ``settings`` go to
    ``efel.set_setting`` (e.g. ``{"stimulus_current": 0.1}`` for input resistance). The
    failure lists every feature with its value, band and z-score. Not collective: under
    MPI, call it on the rank that recorded the trace.
    """
    __tracebackhide__ = True
    if not (isinstance(k, (int, float)) and math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a positive number of standard deviations, not {k!r}")
    scores = z_scores(trace, expected, stimulus=stimulus, settings=settings)
    failing = [n for n, (v, _, _, z) in scores.items() if z is None or abs(z) > k]
    if failing:
        lines = [f"{len(failing)} of {len(scores)} features outside mean ± {k:g} sd:"]
        width = max(map(len, scores))
        for name, (value, mean, sd, z) in scores.items():
            mark = "FAIL" if name in failing else "ok  "
            shown = "no value (eFEL found none: no spikes?)" if value is None else f"{value:.6g}"
            score = "" if z is None else f"  z = {z:+.2f}"
            lines.append(f"  {mark} {name:<{width}}  {shown}  (expected {mean:g} ± {sd:g}){score}")
        raise AssertionError("\n".join(lines))


def compare(
    expected: Features,
    actual: Features,
    rtol: float,
    atol: float,
    tolerances: Mapping[str, Mapping[str, float]],
) -> list[str]:
    """The lines describing each feature that differs from its golden (none when equal)."""
    lines = []
    for name in expected.keys() & actual.keys():
        e, a = expected[name], actual[name]
        tolerance = tolerances.get(name, {})
        r, t = tolerance.get("rtol", rtol), tolerance.get("atol", atol)
        if e is None or a is None:
            if (e is None) != (a is None):
                got = "no value" if a is None else _values(a)
                want = "no value" if e is None else _values(e)
                lines.append(f"  {name}: expected {want}, got {got}")
            continue
        if e.size != a.size:
            lines.append(
                f"  {name}: expected {e.size} values {_values(e)}, got {a.size} {_values(a)}"
            )
            continue
        error = np.abs(a - e)
        if np.any(error > t + r * np.abs(e)):
            worst = int(np.argmax(error))
            lines.append(
                f"  {name}: expected {_values(e)}, got {_values(a)} "
                f"(largest error {error[worst]:.3g}; would pass with "
                f"atol={round_up(float(np.max(error - r * np.abs(e))))})"
            )
    return sorted(lines)


def needed(expected: Features, actual: Features) -> dict[str, float | None]:
    """Per feature, the ``atol`` that covers the difference (None: sizes differ)."""
    out: dict[str, float | None] = {}
    for name in expected.keys() & actual.keys():
        e, a = expected[name], actual[name]
        if e is None or a is None:
            out[name] = 0.0 if e is None and a is None else None
        elif e.size != a.size:
            out[name] = None
        else:
            out[name] = float(np.abs(a - e).max(initial=0.0))
    return out


def _values(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:5])
    return f"[{shown}{', ...' if values.size > 5 else ''}]"
