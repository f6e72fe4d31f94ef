"""G3: a model built with ``p`` gives exactly the results of the same model built with ``h``."""

import gc

import numpy as np
import pytest
from neuron import h

from patch import p


def build_and_run(sim, cvode=False):
    """Build a 3-cell HH network with the calls raw NEURON users write, run it, return traces."""
    sim.load_file("stdrun.hoc")
    sim.dt = 0.025  # CVode leaves dt at its last step; the next run must not start from it
    cells = []
    for i in range(3):
        soma = sim.Section(name=f"soma{i}")
        soma.L = soma.diam = 18.8
        soma.insert("hh")
        dend = sim.Section(name=f"dend{i}")
        dend.L, dend.diam, dend.nseg = 200, 1, 11
        dend.insert("pas")
        dend.g_pas, dend.e_pas = 0.001, -65
        dend.connect(soma(1), 0)
        syn = sim.ExpSyn(dend(0.5))
        syn.tau = 2
        cells.append((soma, dend, syn))
    stim = sim.NetStim()
    stim.number, stim.start, stim.interval = 2, 3, 20
    netcons = [sim.NetCon(stim, cells[0][2])]
    netcons[0].weight[0], netcons[0].delay = 0.04, 1
    for (pre, _, _), (_, _, syn) in zip(cells, cells[1:] + cells[:1], strict=False):
        nc = sim.NetCon(pre(0.5)._ref_v, syn, sec=pre)
        nc.threshold, nc.delay, nc.weight[0] = 0, 2, 0.04
        netcons.append(nc)
    clamp = sim.IClamp(cells[2][0](0.5))
    clamp.delay, clamp.dur, clamp.amp = 30, 5, 0.3
    vclamp = sim.SEClamp(cells[1][1](0.9))
    vclamp.dur1, vclamp.amp1, vclamp.rs = 45, -65, 1e3
    spikes = []
    for nc in netcons[1:]:
        times = sim.Vector()
        nc.record(times)
        spikes.append(times)
    traces = []
    for soma, dend, _ in cells:
        for seg in (soma(0.5), dend(0.1), dend(0.9)):
            vec = sim.Vector()
            vec.record(seg._ref_v)
            traces.append(vec)
    time = sim.Vector()
    time.record(sim._ref_t)
    sim.CVode().active(int(cvode))
    sim.finitialize(-65)
    sim.continuerun(60)
    sim.CVode().active(0)
    result = {
        "time": np.array(time),
        "traces": [np.array(v) for v in traces],
        "spikes": [np.array(v) for v in spikes],
    }
    return result


@pytest.mark.parametrize("cvode", [False, True], ids=["fixed-step", "cvode"])
def test_patch_reproduces_raw_neuron_bit_for_bit(cvode):
    gc.collect()  # models of earlier tests must not share the (variable-step) solver
    assert list(h.allsec()) == []
    raw = build_and_run(h, cvode)
    gc.collect()
    assert list(h.allsec()) == []
    wrapped = build_and_run(p, cvode)
    assert sum(len(s) for s in raw["spikes"]) >= 3, "the network must be active"
    assert np.array_equal(raw["time"], wrapped["time"])
    for a, b in zip(raw["traces"], wrapped["traces"], strict=False):
        assert np.array_equal(a, b)
    for a, b in zip(raw["spikes"], wrapped["spikes"], strict=False):
        assert np.array_equal(a, b)


def test_candy_style_model_matches_raw():
    """The same model written with Patch's sugar gives the raw model's trace."""
    h.load_file("stdrun.hoc")  # continuerun (run alone, no earlier test loaded it)
    h.dt = 0.025  # CVode leaves dt at its last step (an earlier test may have used it)
    soma = h.Section(name="raw")
    soma.L = soma.diam = 20
    soma.insert("hh")
    clamp = h.IClamp(soma(0.5))
    clamp.delay, clamp.dur, clamp.amp = 1, 20, 0.2
    v = h.Vector()
    v.record(soma(0.5)._ref_v)
    h.finitialize(-65)
    h.continuerun(25)
    raw = np.array(v)
    del soma, clamp, v
    gc.collect()

    soma = p.Section(name="sugar")
    soma.L = soma.diam = 20
    soma.insert("hh")
    soma.iclamp(amp=0.2, delay=1, duration=20)
    trace = soma.record()
    p.finitialize(-65)
    p.continuerun(25)
    assert raw.max() > 0
    assert np.array_equal(np.array(trace), raw)
