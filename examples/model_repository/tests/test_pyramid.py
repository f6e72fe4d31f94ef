"""The hoc cell (cells/pyramid.hoc) and its mechanisms, each test on a fresh NEURON."""

from pathlib import Path

import numpy as np
import pytest

# hoc keeps templates and globals for the life of the process: a fresh NEURON per test.
pytestmark = pytest.mark.nrn_isolated

CELLS = Path(__file__).resolve().parent.parent / "cells"


def step(p, amp, **conductances):
    """A 200 ms step of ``amp`` nA into a new Pyramid's soma; returns (cell, t, v)."""
    p.load_file(str(CELLS / "pyramid.hoc"))
    cell = p.Pyramid()
    for name, value in conductances.items():
        for section in (cell.soma, cell.dend):
            for segment in section:
                if hasattr(segment, name):
                    setattr(segment, name, value)
    stimulus = p.IClamp(cell.soma(0.5))
    stimulus.delay, stimulus.dur, stimulus.amp = 20, 200, amp
    t = p.Vector().record(p._ref_t)
    v = p.Vector().record(cell.soma(0.5)._ref_v)
    p.finitialize(-65)
    p.continuerun(250)
    return cell, np.array(t), np.array(v)


def test_step_response_matches_its_goldens(
    p, trace_regression, spike_regression, feature_regression
):
    cell, t, v = step(p, 0.3)
    trace_regression.check({"soma": (t, v)}, atol=1e-6)
    spike_regression.check(np.array(cell.spikes), window=0.01)
    feature_regression.check((t, v), stimulus=(20, 220))


def test_the_slow_potassium_current_adapts_the_train(p):
    cell, _, _ = step(p, 0.3)
    adapting = np.diff(np.array(cell.spikes))
    assert len(adapting) >= 3 and adapting[-1] > adapting[1] + 1
    cell, _, _ = step(p, 0.3, gbar_kslow=0)
    assert len(cell.spikes) > len(adapting) + 1


def test_no_step_no_spikes(p):
    cell, _, v = step(p, 0)
    assert len(cell.spikes) == 0
    assert np.ptp(v) < 5


@pytest.mark.nrn_configs(coreneuron=(False, True))
def test_step_in_each_simulator(p, spike_regression):
    """CoreNEURON cannot compile cahva.mod: its combination is skipped with the reason."""
    p.load_file(str(CELLS / "pyramid.hoc"))
    cell = p.Pyramid()
    stimulus = p.IClamp(cell.soma(0.5))
    stimulus.delay, stimulus.dur, stimulus.amp = 20, 200, 0.3
    p.parallel.set_maxstep(10)
    p.finitialize(-65)
    p.parallel.psolve(250)
    spike_regression.check(np.array(cell.spikes), window=0.01)
