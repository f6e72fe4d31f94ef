"""The regression checks behind the fixtures: one collective protocol for every kind.

Each rank hands its part (its traces, the gathered spikes, its voltage trace) to
``check``; the parts are gathered, rank 0 compares them with the golden file (reading,
writing and plotting are its alone) and sends the verdict back, so every rank passes or
fails together and none is left waiting. With one process nothing is sent.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import patch

from . import features as features_module
from ..compare import spikes, traces
from . import golden, plots, voltage
from .golden import Golden, GoldenError
from .session import Regression

#: Default tolerances: the same build gives the same numbers; a different machine or
#: NEURON version differs in the last digits. ``--nrn-calibrate`` measures better ones.
RTOL, ATOL, WINDOW = 1e-6, 1e-6, 1e-3


class GoldenWrittenWarning(UserWarning):
    """``--nrn-regen`` wrote a golden file; review it and commit it."""


@dataclass
class Verdict:
    """Rank 0's decision, sent to every rank."""

    failure: str | None = None
    error: tuple[str, str] | None = None  # (builtin exception name, message)
    written: str | None = None
    #: A golden that was missing and is now written: the test fails when it ends.
    missing: str | None = None
    warning: str | None = None
    files: list[str] = field(default_factory=list)
    artifact: str | None = None
    measured: dict[str, Any] = field(default_factory=dict)


_ERRORS: dict[str, type[Exception]] = {
    "TypeError": TypeError, "ValueError": ValueError, "RuntimeError": RuntimeError
}


def _tolerance(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, not {value!r}")
    return float(value)


def _per_name(tolerances: Any, allowed: tuple[str, ...]) -> dict[str, dict[str, float]]:
    if tolerances is None:
        return {}
    if not isinstance(tolerances, Mapping):
        raise TypeError(f"tolerances must map names to {{{', '.join(allowed)}}}, not {tolerances!r}")
    out: dict[str, dict[str, float]] = {}
    for name, value in tolerances.items():
        if not isinstance(value, Mapping) or not set(value) <= set(allowed):
            raise ValueError(
                f"tolerances[{name!r}] must be a mapping with keys from {allowed}, not {value!r}"
            )
        out[str(name)] = {key: _tolerance(f"tolerances[{name!r}][{key!r}]", x) for key, x in value.items()}
    return out


class _Check:
    """What the three fixtures share: the item, the session and the collective protocol."""

    kind = ""

    def __init__(self, request: pytest.FixtureRequest, regression: Regression) -> None:
        self._item = request.node
        self._regression = regression
        self._names: set[str | None] = set()
        self._check_name: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._item.name}>"

    # -- the collective protocol -----------------------------------------------------
    def _run(self, name: str | None, local: Callable[[], Any], decide: Callable[[list[Any], Path], Verdict]) -> None:
        __tracebackhide__ = True
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, not {name!r}")
        if name in self._names:
            raise ValueError(
                f"{self.kind[:-1] if self.kind != 'features' else 'feature'}_regression.check "
                f"called twice in {self._item.name} with "
                + ("no name" if name is None else f"name={name!r}")
                + ": give each check of a test its own name=..."
            )
        self._names.add(name)
        self._check_name = name
        self._regression.checked(self._item)
        try:
            part: Any = ("ok", local())
        except (TypeError, ValueError) as error:
            part = ("error", type(error).__name__, str(error))
        parallel = patch.p.parallel
        size, rank = parallel.size, parallel.rank
        parts = [part] if size == 1 else parallel.allgather(part)
        verdict = None
        if rank == 0:
            bad = [(r, p) for r, p in enumerate(parts) if p[0] == "error"]
            if bad:
                r, (_, kind, message) = bad[0]
                where = f"on rank {r}: " if size > 1 else ""
                verdict = Verdict(error=(kind, where + message))
            else:
                path = self._regression.path_for(self._item, name, self.kind)
                try:
                    verdict = decide([p[1] for p in parts], path)
                except (TypeError, ValueError) as error:
                    verdict = Verdict(error=(type(error).__name__, str(error)))
                except Exception:
                    if size == 1:
                        raise
                    # The other ranks wait for a verdict: send them the error instead.
                    verdict = Verdict(error=("RuntimeError", traceback.format_exc()))
        if size > 1:
            verdict = parallel.broadcast(verdict, root=0)
        assert verdict is not None
        self._conclude(verdict)

    def _conclude(self, verdict: Verdict) -> None:
        __tracebackhide__ = True
        for file in verdict.files:  # the session learns of it from the test's report
            self._item.user_properties.append(("nrn_golden", file))
        if verdict.artifact:
            self._item.user_properties.append(("nrn_artifact", verdict.artifact))
        if verdict.measured:
            self._regression.calibration.record(self._item, verdict.files[0], verdict.measured)
        if verdict.written:  # reported through the test's report, so xdist's controller sees it
            self._item.user_properties.append(("nrn_golden_written", verdict.written))
        if verdict.missing:
            self._regression.missing(self._item).append(verdict.missing)
        if verdict.warning:
            warnings.warn(GoldenWrittenWarning(verdict.warning), stacklevel=4)
        if verdict.error:
            kind, message = verdict.error
            raise _ERRORS.get(kind, ValueError)(message)
        if verdict.failure:
            failed = self._regression.failed(self._item)
            if failed is None:  # outside the test's call: nothing collects it
                raise AssertionError(verdict.failure)
            failed.append(f"{verdict.failure}\n(checked at {_caller()})")

    # -- rank 0's decision -----------------------------------------------------------
    def _made_by(self) -> dict[str, Any]:
        parallel = patch.p.parallel
        return {
            **golden.versions(),
            "config": {
                "ranks": parallel.size,
                "threads": int(parallel.nthread()),
                "cvode": bool(patch.p.CVode().active()),
                "dt": float(patch.p.dt),
            },
        }

    def _decide(
        self,
        path: Path,
        data: Any,
        compare: Callable[[Golden], tuple[str | None, Any]],
        *,
        describe: str,
        fingerprint: Any = None,
    ) -> Verdict:
        """Read the golden at ``path`` and compare, or write it when missing or regenerating."""
        regression = self._regression
        shown = regression.show(path)
        fresh = Golden(self.kind, data)  # what made it is filled in when it is written
        if regression.calibration.active and regression.calibration.perturbation(self._item):
            return self._measure(path, data)
        stale = golden.leftovers(path)
        for leftover in stale:  # what writes of it that were killed midway left
            leftover.unlink(missing_ok=True)
        if stale:
            names = ", ".join(regression.show(leftover) for leftover in stale)
            warnings.warn(f"removed what killed writes of {shown} left: {names}", stacklevel=4)
        if not path.exists():
            self._write(path, fresh)
            message = f"no golden {describe} for {self._item.name}: wrote {shown}"
            if regression.regen:
                return Verdict(written=shown, warning=f"{message} (--nrn-regen)", files=[shown])
            return Verdict(missing=shown, written=shown, files=[shown])
        if fingerprint is not None and golden.fingerprint(path, self.kind) == fingerprint:
            return Verdict(files=[shown])  # bit-identical to the golden: nothing to compare
        try:
            stored = golden.read(path, self.kind)
        except GoldenError as error:
            if regression.regen:
                fresh.tolerances = {}
                shown = regression.show(self._write(path, fresh))
                return Verdict(written=shown, warning=f"rewrote {shown}, which was unusable: {error}", files=[shown])
            return Verdict(
                failure=f"{error}\nRepair or delete it, or rewrite it with --nrn-regen.", files=[shown]
            )
        problem, plot = compare(stored)
        if problem is None:
            return Verdict(files=[shown])
        if regression.regen:
            fresh.tolerances = stored.tolerances
            shown = regression.show(self._write(path, fresh))
            return Verdict(written=shown, warning=f"{describe} of {self._item.name} changed: rewrote {shown} (--nrn-regen)", files=[shown])
        message = f"{describe} of {self._item.name} differ from the golden {shown}:\n{problem}"
        artifact = None
        if plot is not None:
            if plots.available():
                target = regression.artifact_path(self._item, self._check_name, self.kind)
                try:
                    artifact = regression.show(plot(target))
                    message += f"\nplot: {artifact}"
                except OSError as error:
                    message += f"\n(no plot: {error})"
            else:
                message += '\n(pip install "nrn-patch[plots]" for a plot of the difference)'
        message += f"\nIf the change is intended: pytest --nrn-regen rewrites {shown}."
        return Verdict(failure=message, files=[shown], artifact=artifact)

    def _write(self, path: Path, content: Golden) -> Path:
        """Write ``content`` where the golden read at ``path`` belongs; return where."""
        content.made_by = self._made_by()
        if path.is_dir():
            raise ValueError(
                f"cannot write the golden file {self._regression.show(path)}: a folder has "
                "its name; move or delete that folder"
            )
        path = self._regression.write_path(path)
        try:
            golden.write(path, content)
        except OSError as error:
            raise ValueError(
                f"cannot write the golden file {self._regression.show(path)}: {error.strerror or error}; "
                "make its folder writable"
            ) from None
        return path

    def _measure(self, path: Path, data: Any) -> Verdict:
        """Under a calibration perturbation: how far this run is from the golden."""
        shown = self._regression.show(path)
        if not path.exists():
            return Verdict(files=[shown])
        try:
            stored = golden.read(path, self.kind)
        except GoldenError as error:
            return Verdict(failure=str(error), files=[shown])
        return Verdict(files=[shown], measured=self._spread(stored, data))

    def _spread(self, stored: Golden, data: Any) -> dict[str, Any]:
        raise NotImplementedError


class TraceRegression(_Check):
    """``trace_regression.check(traces, *, rtol=, atol=, tolerances=None, name=None)``."""

    kind = "traces"

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

        def local() -> dict[str, traces.Trace]:
            _tolerance("rtol", rtol)
            _tolerance("atol", atol)
            _per_name(tolerances, ("rtol", "atol"))
            return traces.as_traces(traces_)

        def decide(parts: list[dict[str, traces.Trace]], path: Path) -> Verdict:
            merged = _merge(parts, "trace")
            overrides = _per_name(tolerances, ("rtol", "atol"))

            def compare(stored: Golden) -> tuple[str | None, Any]:
                lines, failing = _names_differ(stored.data, merged), []
                for key in sorted(stored.data.keys() & merged.keys()):
                    r, a = _effective(key, rtol, atol, overrides, stored.tolerances)
                    result = traces.compare(key, stored.data[key], merged[key], r, a)
                    if not result.ok:
                        failing.append(result)
                        lines += result.describe()
                        lines += voltage.describe(stored.data[key], merged[key], result)
                if not lines:
                    return None, None
                title = f"{self._item.nodeid}: traces differ from the golden"
                plot = (lambda target: plots.traces(target, title, failing)) if failing else None
                return "\n".join(lines), plot

            return self._decide(
                path, merged, compare, describe="traces", fingerprint=golden.trace_digests(merged)
            )

        self._run(name, local, decide)

    def _spread(self, stored: Golden, data: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in stored.data.keys() & data.keys():
            result = traces.compare(key, stored.data[key], data[key], 0.0, 0.0)
            out[key] = None if result.mismatch else {
                "atol": result.needed_atol(), **voltage.facts(stored.data[key], data[key])
            }
        return out


class SpikeRegression(_Check):
    """``spike_regression.check(spikes, *, window=, name=None)``."""

    kind = "spikes"

    def check(self, spikes_: Any, *, window: float = WINDOW, name: str | None = None) -> None:
        """Compare spikes with this test's golden spikes, gid by gid (collective under MPI).

        ``spikes_`` is a spike array (``p.parallel.record_spikes().gather()``), a
        SpikeRecorder, a mapping gid -> times, or one cell's times. Each spike must have
        a partner within ``window`` ms in the golden; a window stored by
        ``--nrn-calibrate`` widens the default.
        """
        __tracebackhide__ = True

        def local() -> spikes.Raster:
            _tolerance("window", window)
            return spikes.as_raster(spikes_)

        def decide(parts: list[spikes.Raster], path: Path) -> Verdict:
            raster = parts[0]
            for other in parts[1:]:
                if not (np.array_equal(other.gids, raster.gids) and np.array_equal(other.times, raster.times)):
                    raise ValueError(
                        "the ranks passed different spikes: pass every rank's spikes, "
                        "p.parallel.record_spikes().gather(), on every rank"
                    )

            def compare(stored: Golden) -> tuple[str | None, Any]:
                expected = spikes.Raster.from_mapping(stored.data)
                w = max(window, stored.tolerances.get("spikes", {}).get("window", 0.0))
                result = spikes.compare(expected, raster, w)
                if result.ok:
                    return None, None
                title = f"{self._item.nodeid}: spikes differ from the golden"
                return "\n".join(result.describe()), lambda target: plots.raster(target, title, result)

            trains = raster.trains()
            return self._decide(
                path, trains, compare, describe="spikes", fingerprint=golden.spike_digest(trains)
            )

        self._run(name, local, decide)

    def _spread(self, stored: Golden, data: Any) -> dict[str, Any]:
        result = spikes.compare(spikes.Raster.from_mapping(stored.data), spikes.Raster.from_mapping(data), 0.0)
        return {"spikes": None if result.needed_window is None else {"window": result.needed_window}}


class FeatureRegression(_Check):
    """``feature_regression.check(trace, *, stimulus=(start, end), features=None, tolerances=None)``."""

    kind = "features"

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
            _tolerance("rtol", rtol)
            _tolerance("atol", atol)
            _per_name(tolerances, ("rtol", "atol"))
            if trace is None:
                return None
            return features_module.compute(trace, stimulus, names, settings)

        def decide(parts: list[Any], path: Path) -> Verdict:
            computed = next((part for part in parts if part is not None), None)
            if computed is None:
                raise ValueError("feature_regression.check got no trace (None on every rank)")
            overrides = _per_name(tolerances, ("rtol", "atol"))

            def compare(stored: Golden) -> tuple[str | None, Any]:
                lines = _names_differ(stored.data, computed, what="features")
                merged = {**{k: {"atol": v["atol"]} for k, v in stored.tolerances.items() if "atol" in v}, **overrides}
                lines += features_module.compare(stored.data, computed, rtol, atol, merged)
                return ("\n".join(lines), None) if lines else (None, None)

            return self._decide(path, computed, compare, describe="features")

        self._run(name, local, decide)

    def _spread(self, stored: Golden, data: Any) -> dict[str, Any]:
        return {
            key: None if value is None else {"atol": value}
            for key, value in features_module.needed(stored.data, data).items()
        }


def _merge(parts: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """One mapping from every rank's; a name twice must mean the same data."""
    merged: dict[str, Any] = {}
    owner: dict[str, int] = {}
    for rank, part in enumerate(parts):
        for key, value in part.items():
            if key in merged and not all(
                (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
                for a, b in zip(merged[key], value)
            ):
                raise ValueError(
                    f"{what} {key!r} was given on ranks {owner[key]} and {rank} with different "
                    "data: give each rank's traces their own names (e.g. by gid)"
                )
            merged.setdefault(key, value)
            owner.setdefault(key, rank)
    return dict(sorted(merged.items()))


def _names_differ(stored: Mapping[Any, Any], actual: Mapping[Any, Any], what: str = "traces") -> list[str]:
    lines = []
    only_golden = sorted(map(str, stored.keys() - actual.keys()))
    only_run = sorted(map(str, actual.keys() - stored.keys()))
    if only_golden:
        lines.append(f"{what} in the golden but not in this run: {', '.join(only_golden)}")
    if only_run:
        lines.append(f"{what} in this run but not in the golden: {', '.join(only_run)}")
    return lines


def _effective(
    name: str,
    rtol: float,
    atol: float,
    overrides: Mapping[str, Mapping[str, float]],
    stored: Mapping[str, Mapping[str, float]],
) -> tuple[float, float]:
    """A name's tolerances: the test's per-name override, else the check's widened by a
    calibration stored in the golden."""
    if name in overrides:
        given = overrides[name]
        return given.get("rtol", rtol), given.get("atol", atol)
    calibrated = stored.get(name, {})
    return max(rtol, calibrated.get("rtol", 0.0)), max(atol, calibrated.get("atol", 0.0))


def _caller() -> str:
    """``file:line`` of the test code that called the check."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame = frame.f_back
    path = frame.f_code.co_filename
    try:
        path = os.path.relpath(path)
    except ValueError:
        pass
    return f"{path}:{frame.f_lineno}"
