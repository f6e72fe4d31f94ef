"""``--nrn-calibrate``: measure a test's numerical spread instead of guessing a tolerance.

Each test whose regression checks passed runs again under each perturbation below; its
checks then measure how far the output moved from the golden instead of asserting. The
largest distance per name, times :data:`SAFETY`, is stored in the golden file, where later
runs use it as the least tolerance of that name.

A tolerance is judged before it is stored, so that calibrating never makes a broken model
pass. Not stored, and said so in the summary: a trace's ``atol`` of :data:`LARGE` of its
range or more; a voltage ``atol`` of a spiking trace whose spikes a perturbation moved
(or added, or removed) - a voltage tolerance that covers a moved spike covers a broken
model too, so its spike times are for ``spike_regression`` to compare. A perturbation
that changed nothing (the model sets ``dt`` itself) is named and not counted; one that
does not end within ``--nrn-calibrate-timeout`` seconds (a forked child of a threaded
NEURON deadlocks) is stopped, its child processes killed, and skipped; so are they when
pytest is interrupted (Ctrl-C, SIGTERM) during a perturbed run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.runner import runtestprotocol  # as pytest-rerunfailures and xdist do

import patch

from . import formats, golden
from .voltage import LARGE, SHIFT

if TYPE_CHECKING:
    from .session import Regression

#: The stored tolerance is the measured spread times this.
SAFETY = 2.0
#: CVode's absolute tolerance in the CVode perturbation (NEURON's default is 1e-3).
CVODE_ATOL = 1e-6

#: Seconds a perturbed run may take before it is stopped and skipped.
TIMEOUT = 300.0

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
        self.timeout = float(config.getoption("nrn_calibrate_timeout", None) or TIMEOUT)
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
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
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
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            restore = item.stash.get(_restore_key, None)
            if restore is not None:
                del item.stash[_restore_key]
                restore()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
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
                with _time_limit(self.timeout) as hung:
                    reports = runtestprotocol(item, nextitem=nextitem, log=False)
            finally:
                del item.stash[perturbation_key]
            if hung:
                for by_perturbation in self._measured.values():
                    by_perturbation.pop(name, None)
                failures.append(
                    f"{name}: skipped, as the test did not end within {self.timeout:g} s (a "
                    "deadlock? NEURON's threads do not survive a fork); its child processes "
                    "were stopped"
                )
                continue
            failed = [r for r in reports if r.failed]
            if failed:
                failures.append(
                    f"the test failed under {name}: "
                    f"{failed[0].longreprtext.strip().splitlines()[-1]}"
                )
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
            self._lines.append(f"  {failure}")
        for file in files:
            measured = self._measured.pop(file, {})
            tolerances: dict[str, dict[str, float]] = {}
            names = sorted({n for by_name in measured.values() for n in by_name})
            for name in names:
                seen = {p: by_name.get(name) for p, by_name in measured.items() if name in by_name}
                stored, lines = _judge(seen)
                if stored is not None:
                    tolerances[name] = stored
                self._lines += [f"  {file} {name}: {line}" for line in lines]
            if tolerances and patch.p.parallel.rank == 0:
                self._write(file, tolerances)

    def _write(self, file: str, tolerances: dict[str, dict[str, float]]) -> None:
        path = Path(self.config.rootpath) / file
        content = golden.read(path, formats.of(path).name)
        content.tolerances = tolerances
        golden.write(path, content)

    def summary(self, terminalreporter: Any) -> None:
        if self.active and self._lines:
            terminalreporter.section("calibrated tolerances")
            for line in self._lines:
                terminalreporter.line(line)


_failed_key = pytest.StashKey[bool]()
_restore_key = pytest.StashKey[Callable[[], None]]()


#: What a check measures besides the distance itself (traces: their range and spikes).
_FACTS = ("range", "spikes_golden", "spikes_run", "spike_shift")


def _amount(value: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in value.items() if k not in _FACTS)


def _judge(seen: dict[str, dict[str, float] | None]) -> tuple[dict[str, float] | None, list[str]]:
    """The tolerance to store for one name from what each perturbation measured (or
    ``None``), and the summary's lines that say why."""
    spread = ", ".join(f"{p}: {'—' if v is None else _amount(v)}" for p, v in seen.items())
    uncovered = [p for p, value in seen.items() if value is None]
    if uncovered:
        return None, [
            f"no tolerance covers {', '.join(uncovered)} (a different length or spike count); "
            f"{spread}"
        ]
    measured = {p: v for p, v in seen.items() if v is not None}
    key = next((k for v in measured.values() for k in v if k not in _FACTS), "atol")
    lines = []
    nothing = [p for p, v in measured.items() if v.get(key, 0.0) == 0.0]
    if nothing:
        lines.append(
            f"{', '.join(nothing)} changed nothing (not counted; where it should have, the model "
            "sets it itself)"
        )
    counted = {p: v for p, v in measured.items() if p not in nothing}
    if not counted:
        return None, lines + ["no perturbation changed it: nothing stored"]
    largest = max(v[key] for v in counted.values())
    amount = largest * SAFETY
    recount = [p for p, v in counted.items() if v.get("spikes_golden") != v.get("spikes_run")]
    shifted = {p: v["spike_shift"] for p, v in counted.items() if v.get("spike_shift", 0.0) > SHIFT}
    if recount or shifted:
        if recount:
            what = f"the number of spikes changed under {', '.join(recount)}"
        else:
            worst = max(shifted, key=shifted.__getitem__)
            what = f"spikes shifted by up to {shifted[worst]:.3g} ms under {worst}"
        window = max(shifted.values(), default=0.0) * SAFETY
        advice = (
            f"; compare its spike times with spike_regression (window={window:.3g})"
            if window
            else ""
        )
        return None, lines + [
            f"{what}: not stored, as a voltage atol that covers it (atol={amount:.3g} mV) "
            f"would let shifted spikes pass{advice} ({spread})"
        ]
    span = max((v.get("range", 0.0) for v in counted.values()), default=0.0)
    if key == "atol" and span > 0 and amount >= LARGE * span:
        return None, lines + [
            f"atol={amount:.3g} not stored: comparable to the trace's range ({span:.3g}; "
            f"{LARGE:.0%} or more would let a broken model pass) ({spread})"
        ]
    return {key: amount}, lines + [f"{key}={amount:.3g} stored ({spread}; x{SAFETY:g})"]


def _children() -> set[int]:
    """This process's child processes (Linux; none found elsewhere)."""
    me, out = os.getpid(), set[int]()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(me):
            out.add(int(entry))
    return out


def _stop(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)


class _Hung(Exception):
    """A perturbed run that did not end in time."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[list[bool]]:
    """Stop what runs inside after ``seconds`` (and the child processes it started); the
    list yielded is not empty when it was stopped. Needs SIGALRM and the main thread:
    elsewhere there is no limit."""
    hung: list[bool] = []
    if (
        seconds <= 0
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield hung
        return
    before = _children()

    def alarm(signum: int, frame: Any) -> None:
        hung.append(True)
        _stop(_children() - before)
        raise _Hung(f"stopped after {seconds:g} s by --nrn-calibrate-timeout")

    def terminate(signum: int, frame: Any) -> None:
        # pytest itself is stopped (a CI timeout): not without the children it started.
        _stop(_children() - before)
        raise KeyboardInterrupt("terminated during a perturbed run of --nrn-calibrate")

    previous = signal.signal(signal.SIGALRM, alarm)
    previous_term = signal.signal(signal.SIGTERM, terminate)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield hung
    except BaseException:  # Ctrl-C
        _stop(_children() - before)
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        signal.signal(signal.SIGTERM, previous_term)
        if hung:
            _stop(_children() - before)
