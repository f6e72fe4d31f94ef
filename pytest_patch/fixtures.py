"""Fixtures for NEURON models: a clean simulator per test, sections, clamps, recordings."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

import patch

from .leaks import Simulator, simulator_key
from .recording import Recording


@pytest.fixture(name="p")
def p_fixture(request: pytest.FixtureRequest) -> Generator[patch.PythonHocInterpreter, None, None]:
    """The Patch interpreter (``patch.p``) with a clean simulator for this test.

    Before the test, every global setting of NEURON is back at the session's baseline
    (``t``, ``dt``, ``celsius``, ``tstop``, ``v_init``, ``steps_per_ms``, ``secondorder``,
    CVode off and its tolerances, mechanism GLOBALs, ion defaults, threads, the random
    stream index; see ``pytest_patch.state``), whatever earlier tests changed and how;
    gids are cleared when no longer-lived fixture owns NEURON objects. After the test,
    the settings are restored again, whatever it made is released, and a section, point
    process or NetCon that is still alive fails it at teardown as a leak
    (``--nrn-leaks=error|warn|off``). Objects made by module- or session-scoped fixtures
    are not leaks of the test; such fixtures use
    ``from patch import p`` (they cannot request this function-scoped fixture).
    Hypothesis tests (``@given``) use ``nrn_simulator`` instead: hypothesis refuses
    function-scoped fixtures, which are not reset between examples.

    Example::

        def test_resting_potential(p):
            soma = p.Section()
            soma.insert("pas")
            v = soma.record()
            p.run(10)
            assert v[-1] == pytest.approx(-70, abs=1)
    """
    simulator: Simulator = request.config.stash[simulator_key]
    before = simulator.start(request.node)
    yield simulator.p
    item = request.node
    # The test is over, but pytest forgets its fixture values only after the whole
    # teardown: drop them now, or what fixtures torn down before p made looks leaked.
    funcargs = getattr(item, "funcargs", None)
    if funcargs:
        for name in [name for name in funcargs if name != "p"]:
            del funcargs[name]
    simulator.finish(item, before)


@pytest.fixture(name="nrn_simulator", scope="session")
def simulator_fixture(request: pytest.FixtureRequest) -> Simulator:
    """The session's simulator, for hypothesis tests: ``with nrn_simulator.example() as p:``.

    ``example()`` puts the simulator back at the baseline (as the ``p`` fixture does for a
    test) at the start of each example. Session-scoped, so hypothesis accepts it in an
    ``@given`` test, where the function-scoped ``p`` fails its health check.

    Example::

        @given(morphology=morphologies(max_sections=4))
        def test_rests_near_e_pas(nrn_simulator, morphology):
            with nrn_simulator.example() as p:
                for section in morphology.sections:
                    section.insert("pas")
                p.run(50)
                assert morphology.root(0.5).v == pytest.approx(-70, abs=1)
    """
    simulator: Simulator = request.config.stash[simulator_key]
    return simulator


@pytest.fixture(name="section")
def section_fixture(p: patch.PythonHocInterpreter) -> patch.Section:
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
    """Places current clamps: ``iclamp(target, amp=, delay=, duration=)`` is
    :func:`patch.iclamp`, with its defaults (the same clamp as ``Section.iclamp``)."""

    def __call__(self, target: Any, /, **settings: Any) -> Any:
        """An ``IClamp`` at ``target`` (a Section means its middle, or a Segment)."""
        return patch.iclamp(target, **settings)


@pytest.fixture(name="iclamp")
def iclamp_fixture(p: patch.PythonHocInterpreter) -> ClampFactory:
    """A factory of current clamps: ``iclamp(target, amp=, delay=, duration=)`` is
    :func:`patch.iclamp` (a number or a sequence of nA; by default for the whole run).
    Returns the ``IClamp``, which lives as long as its section.

    Example::

        def test_spikes(p, section, iclamp):
            section.insert("hh")
            iclamp(section, amp=1.0, delay=1, duration=5)
    """
    return ClampFactory()


@pytest.fixture(name="recording")
def recording_fixture(p: patch.PythonHocInterpreter) -> Callable[[Any], Recording]:
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
