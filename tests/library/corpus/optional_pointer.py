"""A mechanism whose POINTER is optional: set on one instance, left unset on another.

Run as ``python optional_pointer.py neuron|patch OUT.json`` with ``CORPUS_MECHANISMS``
naming the library nrnivmodl built from ``mods/`` (``OptDrive``).

``OptDrive`` tests its POINTER with ``nrn_pointing()``, as many published mechanisms do
for connections that only some instances have. Cell B is driven by a clamp; cell A's
OptDrive points at B's sodium activation ``m_hh`` (set with ``pp._ref_mod = ...``) and
is excited whenever B fires; cell C's OptDrive has no pointer and is a plain leak. Raw
NEURON runs this model as it is.
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
for name in "ABC":
    soma = h.Section(name=f"soma_{name}")
    soma.L = soma.diam = 20
    soma.insert("hh")
    cells[name] = soma

clamp = h.IClamp(cells["B"](0.5))
clamp.delay, clamp.dur, clamp.amp = 1, 30, 0.2

coupled = h.OptDrive(cells["A"](0.5))
coupled.gbase, coupled.gmod = 0.0002, 0.05
coupled._ref_mod = cells["B"](0.5)._ref_m_hh
plain = h.OptDrive(cells["C"](0.5))  # its POINTER stays unset on purpose
plain.gbase, plain.gmod = 0.0002, 0.05

traces = {}
for name, ref in (
    ("v_A", cells["A"](0.5)._ref_v),
    ("v_B", cells["B"](0.5)._ref_v),
    ("v_C", cells["C"](0.5)._ref_v),
    ("g_A", coupled._ref_g),
    ("g_C", plain._ref_g),
):
    traces[name] = h.Vector()
    traces[name].record(ref)

h.finitialize(-65)
h.continuerun(30)

result = {name: list(vec) for name, vec in traces.items()}
result["final"] = {
    "t": h.t,
    "pointing_A": coupled.pointing,
    "pointing_C": plain.pointing,
    "mod_A": coupled.mod,
}

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
