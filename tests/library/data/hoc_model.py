"""A model script written for neuron.h; run as `python hoc_model.py neuron|patch`."""

import json
import os
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")
h.load_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cell.hoc"))
rng = h.Random(7)
cells = []
for _ in range(3):
    cell = h.BallStick(h.Vector(), rng)
    cells.append(cell)
stim = h.NetStim()
stim.number = 4
stim.interval = 15
stim.start = 2
stim.noise = 0.5
stim.noiseFromRandom(h.Random(3))
for i, cell in enumerate(cells):
    cell.connect_input(stim, 0.02 + 0.01 * i)
pc = h.ParallelContext()
for gid, cell in enumerate(cells):
    pc.set_gid2node(gid, 0)
    nc = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
    pc.cell(gid, nc)
trace = h.Vector()
trace.record(cells[0].dend(0.5)._ref_v)
cvode = h.CVode()
cvode.active(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
h.finitialize(-65)
h.continuerun(60)
print(
    json.dumps(
        {
            "spikes": [list(cell.spikes) for cell in cells],
            "trace": list(trace),
            "lengths": [cell.dend.L for cell in cells],
            "celsius": h.celsius,
        }
    )
)
