"""A hoc cell with its own init(), advance() and run(), driven by ``h.run()``.

Run as ``python custom_init.py neuron|patch OUT.json``.

The model, in the style of many published hoc models, redefines the run system's
``init()`` to set its own initial conditions after ``finitialize`` (hyperpolarised,
graded dendrites and a perturbed gating state, completed with ``fcurrent`` or
``cvode.re_init`` and ``frecord_init``), and ``advance()`` to ramp a current clamp and
keep a running peak in every time step, and ``run()`` to count runs and spikes after
each. It is run twice with ``h.run()``.
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")
h("""
create soma, dend[3]
soma { L = 20  diam = 20  nseg = 1  insert hh }
for i = 0, 2 dend[i] {
    L = 120 + 40*i  diam = 1.5  nseg = 7
    insert pas  g_pas = 1e-4  e_pas = -70
}
for i = 0, 2 connect dend[i](0), soma(1)

objref stim, apc, spikes
soma stim = new IClamp(0.5)
stim.del = 2
stim.dur = 1e9
stim.amp = 0
soma apc = new APCount(0.5)
apc.thresh = -10
spikes = new Vector()
apc.record(spikes)

ramp_rate = 0.01     // nA/ms, applied by advance()
vrest_dend = -72     // mV, applied by init()
ninit = 0
nadvance = 0
vpeak = -1e9
tpeak = -1

proc init() { local i
    ninit += 1
    finitialize(v_init)
    // the model's own initial conditions, on top of finitialize
    for i = 0, 2 dend[i] { for (x, 0) { v(x) = vrest_dend - 3*i*x } }
    soma.m_hh(0.5) = 0.2
    stim.amp = 0
    if (cvode.active()) {
        cvode.re_init()
    } else {
        fcurrent()
    }
    frecord_init()
    nadvance = 0
    vpeak = -1e9
    tpeak = -1
}

// the model's own run(): stdrun's, plus bookkeeping after each run
nruns = 0
nspikes_last = -1
proc run() {
    nruns += 1
    running_ = 1
    stdinit()
    continuerun(tstop)
    nspikes_last = spikes.size()
}

proc advance() {
    fadvance()
    nadvance += 1
    if (t > stim.del) { stim.amp = ramp_rate * (t - stim.del) }
    if (soma.v(0.5) > vpeak) { vpeak = soma.v(0.5)  tpeak = t }
}
""")

soma_v = h.Vector()
soma_v.record(h.soma(0.5)._ref_v)
dend_v = h.Vector()
dend_v.record(h.dend[2](0.9)._ref_v)
m = h.Vector()
m.record(h.soma(0.5)._ref_m_hh)
time = h.Vector()
time.record(h._ref_t)

result = {}
h.v_init = -64
h.tstop = 30
for label, rate in (("first", 0.01), ("second", 0.02)):
    h.ramp_rate = rate
    h.run()
    result[label] = {
        "t": h.t,
        "dt": h.dt,
        "ninit": h.ninit,
        "nruns": h.nruns,
        "nspikes_last": h.nspikes_last,
        "nadvance": h.nadvance,
        "vpeak": h.vpeak,
        "tpeak": h.tpeak,
        "stim_amp": h.stim.amp,
        "spikes": list(h.spikes),
        "time": list(time),
        "soma_v": list(soma_v),
        "dend_v": list(dend_v),
        "m": list(m),
    }

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
