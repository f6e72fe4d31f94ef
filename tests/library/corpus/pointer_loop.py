"""Two cells inhibiting each other through POINTERs, and an artificial cell reading one.

Run as ``python pointer_loop.py neuron|patch OUT.json`` with ``CORPUS_MECHANISMS`` naming
the library nrnivmodl built from ``mods/`` (``MutInh``, ``DrivenBurster``).

Each ``MutInh`` integrates its own cell's activity in its STATE ``s`` and inhibits its
own cell with a conductance set by the partner's ``s``, reached through the POINTER
``partner_s``: A reads B and B reads A, a closed loop set with ``pp._ref_partner_s =
other._ref_s`` as raw NEURON users write it. A ``DrivenBurster`` (an ARTIFICIAL_CELL)
points at A's activation and fires faster the more active A is; its spikes excite B.
A is driven first, then B alone, so the inhibition changes hands during the run.
"""

import json
import os
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.nrn_load_dll(os.environ["CORPUS_MECHANISMS"])
h.load_file("stdrun.hoc")

cells = {}
for name in ("A", "B"):
    soma = h.Section(name=f"soma_{name}")
    soma.L = soma.diam = 20
    soma.insert("hh")
    cells[name] = soma

inh_A = h.MutInh(cells["A"](0.5))
inh_B = h.MutInh(cells["B"](0.5))
inh_A._ref_partner_s = inh_B._ref_s  # A is inhibited by B's activity
inh_B._ref_partner_s = inh_A._ref_s  # and B by A's

burster = h.DrivenBurster()
burster.base_interval = 12
burster.gain = 8
burster._ref_drive = inh_A._ref_s
excite_B = h.ExpSyn(cells["B"](0.5))
excite_B.tau = 3
burst_to_B = h.NetCon(burster, excite_B)
burst_to_B.weight[0] = 0.002
burst_to_B.delay = 1

drive_A = h.IClamp(cells["A"](0.5))
drive_A.delay, drive_A.dur, drive_A.amp = 2, 40, 0.25
drive_B = h.IClamp(cells["B"](0.5))
drive_B.delay, drive_B.dur, drive_B.amp = 20, 60, 0.25

records = {
    "v_A": cells["A"](0.5)._ref_v,
    "v_B": cells["B"](0.5)._ref_v,
    "s_A": inh_A._ref_s,
    "s_B": inh_B._ref_s,
    "i_A": inh_A._ref_i,
    "i_B": inh_B._ref_i,
    "g_A": inh_A._ref_g,
    "g_B": inh_B._ref_g,
}
vectors = {}
for key, ref in records.items():
    vectors[key] = h.Vector()
    vectors[key].record(ref)
time = h.Vector()
time.record(h._ref_t)

spikes = {}
netcons = []
for name, soma in cells.items():
    spikes[name] = h.Vector()
    nc = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
    nc.threshold = 0
    nc.record(spikes[name])
    netcons.append(nc)
spikes["burster"] = h.Vector()
burst_to_B.record(spikes["burster"])

h.finitialize(-65)
h.continuerun(80)

result = {key: list(vec) for key, vec in vectors.items()}
result["time"] = list(time)
result["spikes"] = {key: list(vec) for key, vec in spikes.items()}
result["final"] = {
    "t": h.t,
    "dt": h.dt,
    "partner_s_A": inh_A.partner_s,
    "partner_s_B": inh_B.partner_s,
    "drive": burster.drive,
    "last_drive": burster.last_drive,
    "max_drive": burster.max_drive,
    "nspikes": burster.nspikes,
}

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
