"""A small HH network integrated with CVode: NetStim input, ExpSyn and Exp2Syn synapses.

Run as ``python cvode_network.py neuron|patch OUT.json``.

Five ball-and-stick cells (a Python class, as in many recent models) in an excitatory
ring of ExpSyn synapses, with a NetStim driving cell 0 through an Exp2Syn and one
inhibitory Exp2Syn (cell 3 onto cell 1). Integrated with the global variable-step
method: ``finitialize`` + ``continuerun``, then a second run through ``h.run()`` after
the stimulus changes, then one with the local variable time step.
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")


class BallStick:
    def __init__(self, gid):
        self.gid = gid
        self.soma = h.Section(name=f"soma_{gid}")
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.dend = h.Section(name=f"dend_{gid}")
        self.dend.L, self.dend.diam, self.dend.nseg = 200, 1, 5
        self.dend.insert("pas")
        self.dend.g_pas, self.dend.e_pas = 0.001, -65
        self.dend.connect(self.soma(1))
        for sec in (self.soma, self.dend):
            sec.Ra, sec.cm = 100, 1
        self.syn = h.ExpSyn(self.dend(0.5))
        self.syn.tau = 2
        self.spike_times = h.Vector()
        self.detector = h.NetCon(self.soma(0.5)._ref_v, None, sec=self.soma)
        self.detector.threshold = 10
        self.detector.record(self.spike_times)


cells = [BallStick(gid) for gid in range(5)]

stim = h.NetStim()
stim.number, stim.start, stim.interval, stim.noise = 4, 5, 18, 0
drive = h.Exp2Syn(cells[0].dend(0.5))
drive.tau1, drive.tau2, drive.e = 0.5, 3, 0
stim_nc = h.NetCon(stim, drive)
stim_nc.weight[0], stim_nc.delay = 0.02, 1

ring = []
for pre, post in zip(cells, cells[1:] + cells[:1], strict=False):
    nc = h.NetCon(pre.soma(0.5)._ref_v, post.syn, sec=pre.soma)
    nc.threshold, nc.delay, nc.weight[0] = 10, 3, 0.012
    ring.append(nc)

inhibition = h.Exp2Syn(cells[1].soma(0.5))
inhibition.tau1, inhibition.tau2, inhibition.e = 1, 8, -80
inh_nc = h.NetCon(cells[3].soma(0.5)._ref_v, inhibition, sec=cells[3].soma)
inh_nc.threshold, inh_nc.delay, inh_nc.weight[0] = 10, 1.5, 0.01

v0 = h.Vector()
v0.record(cells[0].soma(0.5)._ref_v)
v2 = h.Vector()
v2.record(cells[2].dend(0.9)._ref_v)
g_inh = h.Vector()
g_inh.record(inhibition._ref_g)
time = h.Vector()
time.record(h._ref_t)

cvode = h.CVode()
cvode.active(1)
cvode.atol(1e-4)


def snapshot():
    return {
        "t": h.t,
        "dt": h.dt,
        "spikes": [list(cell.spike_times) for cell in cells],
        "time": list(time),
        "v0": list(v0),
        "v2": list(v2),
        "g_inh": list(g_inh),
    }


result = {}
h.finitialize(-65)
h.continuerun(100)
result["global"] = snapshot()

stim.number, stim.interval = 6, 11
h.tstop = 90
h.run()
result["run"] = snapshot()

cvode.use_local_dt(1)
h.finitialize(-65)
h.continuerun(60)
result["local"] = snapshot()
result["local"].pop("time")  # with local steps t is the last cell's time
cvode.use_local_dt(0)
cvode.active(0)

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
