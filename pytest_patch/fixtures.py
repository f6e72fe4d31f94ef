"""Fixtures for NEURON models: a clean simulator per test, sections, clamps, recordings."""

from __future__ import annotations

import gc
import sys
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ._keys import call_failed_key, simulator_key

if TYPE_CHECKING:
    from patch import PythonHocInterpreter, Section

LEAK_MODES = ("error", "warn", "off")
# Simulator settings every test starts from; NEURON's values when the session started.
_BASELINE = ("t", "dt", "celsius", "tstop", "v_init", "steps_per_ms")
_KINDS = {"sections": "sections", "point_processes": "point processes", "netcons": "NetCons"}


class LeakWarning(UserWarning):
    """A test left sections, point processes or NetCons alive (``--nrn-leaks=warn``)."""


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register this module's options (``--nrn-leaks`` and its ini key)."""
    group.addoption(
        "--nrn-leaks",
        choices=LEAK_MODES,
        default=None,
        help="what a test that leaves a section, point process or NetCon alive gets: "
        "an error at teardown (default), a warning, or nothing (off).",
    )
    parser.addini(
        "nrn_leaks",
        "what a test that leaves NEURON objects alive gets: error, warn or off.",
        default="error",
    )


def configure(config: pytest.Config) -> None:
    """Capture the simulator baseline and register the leak checker for the session."""
    mode = config.getoption("nrn_leaks", None) or config.getini("nrn_leaks").strip()
    if mode not in LEAK_MODES:
        raise pytest.UsageError(
            f"nrn_leaks = {mode!r} is not a leak mode: use one of {', '.join(LEAK_MODES)}."
        )
    simulator = Simulator(mode, config.rootpath)
    config.stash[simulator_key] = simulator
    config.pluginmanager.register(simulator, "pytest-patch-simulator")


class Simulator:
    """The session's NEURON: the baseline each test starts from, and the leak check.

    The baseline (``t``, ``dt``, ``celsius``, ``tstop``, ``v_init``, ``steps_per_ms``)
    is NEURON's state when the session starts, with ``stdrun.hoc`` loaded.
    """

    def __init__(self, leaks: str, rootpath: Path) -> None:
        from patch import p, transform

        p.load_stdrun()
        self.p = p
        self.leaks = leaks
        self._rootpath = rootpath
        self._h = transform(p)
        self.baseline = {name: getattr(self._h, name) for name in _BASELINE}

    # -- test set-up and teardown --------------------------------------------------------
    def start(self) -> Counter[tuple[str, str]]:
        """Put the simulator back at the baseline; return what lives in NEURON now."""
        if getattr(sys, "last_traceback", None) is not None:
            # An earlier failure's traceback holds its test's frames and their models.
            sys.last_type = sys.last_value = sys.last_traceback = None
            if hasattr(sys, "last_exc"):
                sys.last_exc = None
            gc.collect()
        h = self._h
        for name, value in self.baseline.items():
            setattr(h, name, value)
        h.cvode.active(0)
        before = self.snapshot()
        if not before:
            # Nothing longer-lived owns a gid, so earlier tests' gids can all go.
            self.p.parallel.gid_clear()
        return before

    def finish(self, item: pytest.Item, before: Counter[tuple[str, str]]) -> None:
        """Release what the test dropped; report what it left alive as ``leaks`` says."""
        leaked = self.leaked(before)
        if not leaked or self.leaks == "off":
            return
        message = self.describe(item, leaked)
        if self.leaks == "error":
            pytest.fail(message, pytrace=False)
        item.warn(LeakWarning(message))

    def snapshot(self) -> Counter[tuple[str, str]]:
        """The sections, point processes and NetCons alive in NEURON, as (kind, name)."""
        from patch import live_objects

        return Counter(
            (kind, name) for kind, names in live_objects().items() for name in names
        )

    def leaked(self, before: Counter[tuple[str, str]]) -> dict[str, list[str]]:
        """What lives now and did not live in ``before``, after a garbage collection."""
        # The young generations are cheap to collect and hold most of a short test's
        # objects; a full collection only runs when something still seems to be left.
        gc.collect(1)
        new = self.snapshot() - before
        if new:
            gc.collect()
            new = self.snapshot() - before
        found: dict[str, list[str]] = {}
        for kind, name in sorted(new.elements()):
            found.setdefault(kind, []).append(name)
        return found

    def describe(self, item: pytest.Item, leaked: dict[str, list[str]]) -> str:
        """A leak report: what leaked, who still holds it, and what to do."""
        count = sum(len(names) for names in leaked.values())
        lines = [
            f"{item.nodeid} left {count} NEURON object{'s' * (count != 1)} alive after "
            "its teardown:"
        ]
        for kind, label in _KINDS.items():
            names = leaked.get(kind, [])
            if names:
                more = f", ... ({len(names)} in all)" if len(names) > 10 else ""
                lines.append(f"  {label}: {', '.join(names[:10])}{more}")
        names = {name for group in leaked.values() for name in group}
        holders = _module_holders(names, self._rootpath)
        if holders:
            lines.append("Held by: " + "; ".join(holders) + ".")
        lines.append(
            "Something outside the test still references them, such as a module-level "
            "list, a global, a class attribute or a cache. Drop that reference when the "
            "test ends, or build them in a fixture with the scope they need "
            "(--nrn-leaks=warn or off relaxes this check)."
        )
        return "\n".join(lines)

    # -- hooks ---------------------------------------------------------------------------
    def pytest_assertrepr_compare(self, op: str, left: Any, right: Any) -> list[str] | None:
        from .checks import explain_vector_comparison

        return explain_vector_comparison(left, right) if op == "==" else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when in ("setup", "call") and call.excinfo is not None:
            if not call.excinfo.errisinstance(pytest.skip.Exception):
                # The traceback keeps the test's objects alive: not a leak of the test's.
                item.stash[call_failed_key] = True
        return report


def _module_holders(names: set[str], rootpath: Path) -> list[str]:
    """Globals of the project's modules that hold (or directly contain) a leaked object."""
    from neuron import hoc, nrn

    def name_of(obj: Any) -> str | None:
        try:
            if isinstance(obj, nrn.Section):
                return obj.name()
            if isinstance(obj, hoc.HocObject):
                return obj.hname()
        except Exception:  # a deleted section, or an object NEURON no longer knows
            return None
        return None

    found = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or "site-packages" in Path(path).parts:
            continue
        if not Path(path).is_relative_to(rootpath):
            continue
        for variable, value in list(vars(module).items()):
            if variable.startswith("__"):
                continue
            if isinstance(value, dict):
                contents: Iterable[Any] = list(value.values())
            elif isinstance(value, (list, tuple, set, frozenset)):
                contents = list(value)
            else:
                contents = [value]
            if any(name_of(obj) in names for obj in contents):
                found.append(f"{variable} in module {module.__name__}")
    return found


@pytest.fixture(name="p")
def p_fixture(request: pytest.FixtureRequest) -> Generator[PythonHocInterpreter, None, None]:
    """The Patch interpreter (``patch.p``) with a clean simulator for this test.

    Before the test, ``t``, ``dt``, ``celsius``, ``tstop``, ``v_init`` and
    ``steps_per_ms`` are back at the session's baseline and CVode is off; gids are
    cleared when no longer-lived fixture owns NEURON objects. After the test, whatever
    it made is released, and a section, point process or NetCon that is still alive
    fails it at teardown as a leak (``--nrn-leaks=error|warn|off``). Objects made by
    module- or session-scoped fixtures are not leaks of the test; such fixtures use
    ``from patch import p`` (they cannot request this function-scoped fixture).

    Example::

        def test_resting_potential(p):
            soma = p.Section()
            soma.insert("pas")
            v = soma.record()
            p.run(10)
            assert v[-1] == pytest.approx(-70, abs=1)
    """
    simulator: Simulator = request.config.stash[simulator_key]
    before = simulator.start()
    yield simulator.p
    item = request.node
    # The test is over, but pytest forgets its fixture values only after the whole
    # teardown: drop them now, or what fixtures torn down before p made looks leaked.
    funcargs = getattr(item, "funcargs", None)
    if funcargs:
        for name in [name for name in funcargs if name != "p"]:
            del funcargs[name]
    if item.stash.get(call_failed_key, False):
        gc.collect()
        return
    simulator.finish(item, before)


@pytest.fixture(name="section")
def section_fixture(p: PythonHocInterpreter) -> Section:
    """A fresh, unconnected Section named ``section`` with NEURON's default geometry.

    Example::

        def test_passive(p, section, iclamp, recording):
            section.insert("pas")
            iclamp(section, amp=0.1)
            v = recording(section)
            p.run(20)
    """
    return p.Section(name="section")


class ClampFactory:
    """Places configured current clamps: ``iclamp(target, amp=, delay=, duration=)``."""

    def __init__(self, p: PythonHocInterpreter) -> None:
        self._p = p

    def __call__(
        self,
        target: Any,
        *,
        amp: float | Iterable[float] = 0.1,
        delay: float = 0.0,
        duration: float | None = None,
    ) -> Any:
        """An ``IClamp`` at ``target`` (a Section means its middle, or a Segment).

        ``amp`` is in nA; ``duration`` defaults to the whole run (or, when ``amp`` is a
        sequence played one value per time step, to the sequence's length).
        """
        from neuron import nrn

        from patch import Section

        if delay < 0 or (duration is not None and duration < 0):
            raise ValueError(
                f"iclamp: delay={delay!r} and duration={duration!r} must not be negative."
            )
        section, x = target, 0.5
        if isinstance(target, nrn.Segment):
            section, x = target.sec, target.x
        if isinstance(section, Section):
            if duration is None and isinstance(amp, (int, float)):
                duration = 1e9
            return section.iclamp(x, amp=amp, delay=delay, duration=duration)
        if not isinstance(amp, (int, float)):
            raise TypeError(
                "iclamp: a sequence of amplitudes needs a Patch Section (p.Section()) or one "
                f"of its segments as target, not {target!r}."
            )
        dur = 1e9 if duration is None else duration
        return self._p.IClamp(target, amp=amp, delay=delay, dur=dur)


@pytest.fixture(name="iclamp")
def iclamp_fixture(p: PythonHocInterpreter) -> ClampFactory:
    """A factory of current clamps: ``iclamp(target, amp=0.1, delay=0, duration=None)``.

    ``target`` is a Section (its middle) or a Segment; ``amp`` in nA is a number or a
    sequence played one value per time step from ``delay``; ``duration`` (ms) defaults
    to the whole run. Returns the ``IClamp``, which lives as long as its section.

    Example::

        def test_spikes(p, section, iclamp):
            section.insert("hh")
            iclamp(section, amp=1.0, delay=1, duration=5)
    """
    return ClampFactory(p)


class Recording:
    """A NEURON variable recorded during a run, with the simulation time alongside.

    ``target`` is a Section (its middle's voltage), a Segment (its voltage), a pointer
    such as ``seg._ref_ina``, or an object with ``__record__``. After a run, ``values``
    and ``time`` are numpy arrays of equal length; ``vector`` and ``time_vector`` are
    the NEURON Vectors behind them.
    """

    def __init__(self, target: Any) -> None:
        from neuron import nrn

        from patch import Vector, p, transform

        self.target = target
        self.vector: Vector = Vector().record(target)
        # NEURON ties a recording of t to a section and drops it when that section goes:
        # tie it to the recorded section, which this recording keeps alive.
        owner = transform(target.__record__() if hasattr(target, "__record__") else target)
        owner = owner.sec if isinstance(owner, nrn.Segment) else owner
        where = {"sec": owner} if isinstance(owner, nrn.Section) else {}
        self.time_vector: Vector = Vector().record(transform(p)._ref_t, **where)

    @property
    def values(self) -> np.ndarray:
        """The recorded values (a copy, safe to keep across runs)."""
        return self.vector.as_numpy().copy()

    @property
    def time(self) -> np.ndarray:
        """The simulation time (ms) of each recorded value."""
        return self.time_vector.as_numpy().copy()

    def __len__(self) -> int:
        return int(self.vector.size())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def __repr__(self) -> str:
        return f"<Recording of {self.target!r}: {len(self)} values>"


@pytest.fixture(name="recording")
def recording_fixture(p: PythonHocInterpreter) -> Callable[[Any], Recording]:
    """A factory of recordings: ``recording(target)`` for a Section, Segment or pointer.

    After a run, ``.values`` and ``.time`` are numpy arrays (see :class:`Recording`).

    Example::

        def test_decay(p, section, recording):
            v = recording(section)
            ina = recording(section(0.5)._ref_ina)  # after section.insert("hh")
            p.run(10)
            assert len(v.values) == len(v.time)
    """
    return Recording
