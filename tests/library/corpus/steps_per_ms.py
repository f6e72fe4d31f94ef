"""A model whose dt does not fit stdrun's steps_per_ms, run with h.run().

Run as ``python steps_per_ms.py neuron|patch OUT.json``.

stdrun's ``setdt()`` (called by ``stdinit()``, which ``run()`` calls) makes ``dt`` an
integer fraction of ``1/steps_per_ms``, prints "Changed dt" and takes that many
``advance()`` calls per plotted step. Models written for the GUI era rely on it: they set
``dt`` and ``steps_per_ms`` separately and let ``run()`` reconcile them. Three runs:
dt smaller than 1/steps_per_ms and not a divisor, dt larger than 1/steps_per_ms, and an
explicit ``stdinit()`` + ``continuerun()``.
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")

soma = h.Section(name="soma")
soma.L = soma.diam = 18
soma.insert("hh")
axon = h.Section(name="axon")
axon.L, axon.diam, axon.nseg = 300, 1, 9
axon.insert("hh")
axon.connect(soma(1))
clamp = h.IClamp(soma(0.5))
clamp.delay, clamp.dur, clamp.amp = 1, 100, 0.15

v_soma = h.Vector()
v_soma.record(soma(0.5)._ref_v)
v_axon = h.Vector()
v_axon.record(axon(0.9)._ref_v)
time = h.Vector()
time.record(h._ref_t)
spikes = h.Vector()
detector = h.NetCon(axon(0.9)._ref_v, None, sec=axon)
detector.threshold = 0
detector.record(spikes)


def snapshot():
    return {
        "dt": h.dt,
        "t": h.t,
        "steps_per_ms": h.steps_per_ms,
        "nstep_steprun": h.nstep_steprun,
        "n_points": len(time),
        "time_tail": list(time)[-3:],
        "v_soma": list(v_soma),
        "v_axon": list(v_axon),
        "spikes": list(spikes),
    }


result = {}
h.tstop = 12

h.steps_per_ms = 10
h.dt = 0.03  # not a divisor of 0.1 ms: setdt makes it 0.1/3
h.run()
result["fine"] = snapshot()

h.steps_per_ms = 40
h.dt = 0.1  # coarser than 1/steps_per_ms: setdt makes it 0.025
h.run()
result["coarse"] = snapshot()

h.steps_per_ms = 8
h.dt = 0.05  # 0.125 / 0.05 = 2.5: setdt makes it 0.0625
h.stdinit()
h.continuerun(h.tstop)
result["stdinit"] = snapshot()

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
