"""The step-current protocol (model/step.hoc), each test on a fresh NEURON (nrn_isolate)."""

import numpy as np
import pytest


def run_step(p, amp):
    """Run step.hoc with a step of `amp` nA; return the soma's spike times (ms)."""
    p(f"stim_amp = {amp}")  # a hoc global the protocol reads when it is loaded
    p.load_file("step.hoc")
    return np.array(p.cell.spikes)


def test_the_step_drives_an_adapting_train(p):
    spikes = run_step(p, 0.3)
    assert len(spikes) > 15
    assert spikes.min() > 50, "no spike before the step starts"
    intervals = np.diff(spikes)
    assert intervals[-1] > intervals[0] + 0.5, "kadapt lengthens the later intervals"


def test_a_weak_step_fires_less(p):
    # Without isolation this load_file would run nothing: step.hoc was loaded already.
    assert len(run_step(p, 0.15)) < 5


def test_no_step_no_spikes(p):
    spikes = run_step(p, 0.0)
    assert len(spikes) == 0
    assert np.allclose(np.array(p.vsoma), -65, atol=1)


def test_the_recordings_cover_the_run(p):
    run_step(p, 0.3)
    assert p.tvec.x[p.tvec.size() - 1] == pytest.approx(500)
    assert p.vsoma.size() == p.tvec.size()


def test_without_kadapt_the_train_is_regular(p):
    adapting = run_step(p, 0.3)
    p.cell.soma.gbar_kadapt = 0
    p.run()  # the protocol's recordings and spike vector, run again
    regular = np.array(p.cell.spikes)
    assert len(regular) > len(adapting)
    intervals = np.diff(regular)
    assert intervals.max() - intervals.min() < 0.5


def test_the_step_response_matches_its_goldens(p, trace_regression, spike_regression):
    """The protocol's soma trace and spike train, against the goldens in tests/test_step/."""
    spikes = run_step(p, 0.3)
    trace_regression.check({"soma": (np.array(p.tvec), np.array(p.vsoma))}, atol=1e-6)
    spike_regression.check(spikes, window=0.01)
