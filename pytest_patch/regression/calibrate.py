"""``--nrn-calibrate``: measure a test's numerical spread instead of guessing a tolerance.

Each test whose regression checks passed runs again under each perturbation below; its
checks then measure how far the output moved from the golden instead of asserting. The
largest distance per name, times :data:`SAFETY`, is stored in the golden file, where later
runs use it as the least tolerance of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.runner import runtestprotocol  # as pytest-rerunfailures and xdist do

import patch

from . import golden

if TYPE_CHECKING:
    from .session import Regression

#: The stored tolerance is the measured spread times this.
SAFETY = 2.0
#: CVode's absolute tolerance in the CVode perturbation (NEURON's default is 1e-3).
CVODE_ATOL = 1e-6

perturbation_key = pytest.StashKey[str]()


def _halve_dt() -> Callable[[], None]:
    p = patch.p
    dt, steps = p.dt, p.steps_per_ms
    p.steps_per_ms = steps * 2
    p.dt = dt / 2

    def restore() -> None:
        p.dt, p.steps_per_ms = dt, steps

    return restore


def _cvode() -> Callable[[], None]:
    cvode = patch.p.CVode()
    active, atol = cvode.active(), cvode.atol()
    cvode.active(1)
    cvode.atol(CVODE_ATOL)

    def restore() -> None:
        cvode.atol(atol)
        cvode.active(active)

    return restore


def _threads() -> Callable[[], None]:
    parallel = patch.p.parallel
    before = int(parallel.nthread())
    parallel.nthread(2)
    return lambda: parallel.nthread(before)


#: Each perturbation changes the simulator after the fixtures made the model and before
#: the test body runs, and returns how to undo it.
PERTURBATIONS: dict[str, Callable[[], Callable[[], None]]] = {
    "dt/2": _halve_dt,
    f"cvode atol={CVODE_ATOL:g}": _cvode,
    "threads=2": _threads,
}


class Calibration:
    """The perturbed reruns of one session and what they measured."""

    def __init__(self, config: pytest.Config, regression: Regression) -> None:
        self.config = config
        self.regression = regression
        self.active: bool = config.getoption("nrn_calibrate", False)
        # golden file -> perturbation -> name -> distance (None: no tolerance covers it)
        self._measured: dict[str, dict[str, dict[str, Any]]] = {}
        self._lines: list[str] = []
        if self.active:
            if config.getoption("nrn_regen", False):
                raise pytest.UsageError(
                    "--nrn-calibrate measures against the goldens as they are; run "
                    "--nrn-regen first, review, then --nrn-calibrate"
                )
            config.pluginmanager.register(self, "patch-calibration")

    def perturbation(self, item: pytest.Item) -> str | None:
        return item.stash.get(perturbation_key, None)

    def record(self, item: pytest.Item, file: str, measured: dict[str, Any]) -> None:
        name = self.perturbation(item)
        if name is not None:
            self._measured.setdefault(file, {}).setdefault(name, {}).update(measured)

    def _apply(self, item: pytest.Item) -> None:
        name = self.perturbation(item)
        if name is not None and _restore_key not in item.stash:
            item.stash[_restore_key] = PERTURBATIONS[name]()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
        # Right after the ``p`` fixture put the simulator at its baseline, before the
        # fixtures that build and run the model.
        result = yield
        if fixturedef.argname in ("p", "nrn_simulator"):
            self._apply(request.node)
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self._apply(item)  # a test that uses neither fixture

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            restore = item.stash.get(_restore_key, None)
            if restore is not None:
                del item.stash[_restore_key]
                restore()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
        result = yield
        files = [str(value) for key, value in item.user_properties if key == "nrn_golden"]
        if not files:
            return result
        if self._failed(item):
            self._lines.append(f"{item.nodeid}: not calibrated, as it failed")
            return result
        failures = []
        for name in PERTURBATIONS:
            item.stash[perturbation_key] = name
            try:
                reports = runtestprotocol(item, nextitem=nextitem, log=False)
            finally:
                del item.stash[perturbation_key]
            failed = [r for r in reports if r.failed]
            if failed:
                failures.append(f"{name}: {failed[0].longreprtext.strip().splitlines()[-1]}")
        self._store(item, sorted(set(files)), failures)
        return result

    def _failed(self, item: pytest.Item) -> bool:
        return bool(item.stash.get(_failed_key, False))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Generator[None, Any, Any]:
        report = yield
        if self.perturbation(item) is None and report.failed:
            item.stash[_failed_key] = True
        return report

    def _store(self, item: pytest.Item, files: list[str], failures: list[str]) -> None:
        self._lines.append(f"{item.nodeid}:")
        for failure in failures:
            self._lines.append(f"  the test failed under {failure}")
        for file in files:
            measured = self._measured.pop(file, {})
            tolerances: dict[str, dict[str, float]] = {}
            names = sorted({n for by_name in measured.values() for n in by_name})
            for name in names:
                seen = {p: by_name.get(name) for p, by_name in measured.items() if name in by_name}
                uncovered = [p for p, value in seen.items() if value is None]
                spread = ", ".join(
                    f"{p}: {'—' if v is None else _amount(v)}" for p, v in seen.items()
                )
                if uncovered:
                    self._lines.append(
                        f"  {file} {name}: no tolerance covers {', '.join(uncovered)} "
                        f"(a different length or spike count); {spread}"
                    )
                    continue
                key = next(iter(next(iter(seen.values())) or {"atol": 0}))
                largest = max((v or {}).get(key, 0.0) for v in seen.values())
                tolerances[name] = {key: largest * SAFETY}
                self._lines.append(
                    f"  {file} {name}: {key}={largest * SAFETY:.3g} stored ({spread}; x{SAFETY:g})"
                )
            if tolerances and patch.p.parallel.rank == 0:
                self._write(file, tolerances)

    def _write(self, file: str, tolerances: dict[str, dict[str, float]]) -> None:
        path = Path(self.config.rootpath) / file
        kind = next(k for k in golden.KINDS if f".{k}" in path.name)
        content = golden.read(path, kind)
        content.tolerances = tolerances
        golden.write(path, content)

    def summary(self, terminalreporter: Any) -> None:
        if self.active and self._lines:
            terminalreporter.section("calibrated tolerances")
            for line in self._lines:
                terminalreporter.line(line)


_failed_key = pytest.StashKey[bool]()
_restore_key = pytest.StashKey[Callable[[], None]]()


def _amount(value: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in value.items())
