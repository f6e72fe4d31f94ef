"""A Python cell whose results and log are labelled with the objects themselves.

Run as ``python named_objects.py neuron|patch OUT.json``.

Recent Python models label their output with NEURON objects turned into text:
recordings keyed by ``str(sec)`` and ``str(seg)``, a log line per stimulus with the
point process in an f-string, and the hoc name of each object. NEURON's text for a
section is its name (``soma``), for a point process or Vector its hoc name
(``IClamp[0]``).
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")


class Cell:
    def __init__(self):
        self.soma = h.Section(name="soma")
        self.soma.L = self.soma.diam = 20
        self.soma.insert("hh")
        self.dend = h.Section(name="dend")
        self.dend.L, self.dend.diam, self.dend.nseg = 150, 1, 3
        self.dend.insert("pas")
        self.dend.connect(self.soma(1))
        self.all = [self.soma, self.dend]


cell = Cell()
stimuli = []
for sec, delay in ((cell.soma, 2), (cell.dend, 12)):
    stim = h.IClamp(sec(0.5))
    stim.delay, stim.dur, stim.amp = delay, 3, 0.4
    stimuli.append(stim)
    print(f"{stim} at {stim.get_segment()} on {sec}: {stim.amp} nA from {stim.delay} ms")

recordings = {}
for sec in cell.all:
    for seg in sec:
        recordings[str(seg)] = h.Vector()
        recordings[str(seg)].record(seg._ref_v)
peaks_by_section = {}

h.finitialize(-65)
h.continuerun(20)

for sec in cell.all:
    peaks_by_section[str(sec)] = max(max(recordings[str(seg)]) for seg in sec)
print("peaks:", ", ".join(f"{name}={value:.3f}" for name, value in peaks_by_section.items()))

result = {
    "traces": {key: list(vec) for key, vec in recordings.items()},
    "peaks": peaks_by_section,
    "labels": [str(stim) for stim in stimuli],
    "names": [sec.name() for sec in cell.all] + [stim.hname() for stim in stimuli],
}
with open(sys.argv[2], "w") as out:
    json.dump(result, out)
