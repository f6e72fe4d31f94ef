"""A Python driver that runs in chunks at times taken from numpy, printing progress.

Run as ``python chunked_run.py neuron|patch OUT.json``.

Long simulations are often run piecewise (to report progress, save intermediate results
or change parameters between pieces): ``continuerun`` to each checkpoint of an
``np.arange``, with the clamp amplitude and the initial voltage taken from numpy arrays.
``np.arange`` of whole numbers gives numpy integers, which NEURON takes as numbers.
"""

import json
import sys

import numpy as np

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")

soma = h.Section(name="soma")
soma.L = soma.diam = 20
soma.insert("hh")
clamp = h.IClamp(soma(0.5))
clamp.delay, clamp.dur = 2, 1e9

v = h.Vector()
v.record(soma(0.5)._ref_v)
spikes = h.Vector()
detector = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
detector.threshold = 0
detector.record(spikes)

amplitudes = np.linspace(0.05, 0.3, 6)  # one per chunk
checkpoints = np.arange(0, 61, 10)[1:]  # 10, 20, ..., 60 (numpy integers)
v_start = np.array([-65.0, -70.0])[0]

progress = []
h.finitialize(v_start)
for amplitude, stop in zip(amplitudes, checkpoints, strict=False):
    clamp.amp = amplitude
    h.continuerun(stop)
    line = f"t = {h.t:.3f} ms, amp = {amplitude:.2f} nA: {int(spikes.size())} spikes so far"
    print(line)
    progress.append([h.t, int(spikes.size())])

result = {
    "t": h.t,
    "progress": progress,
    "spikes": list(spikes),
    "v": list(v),
}
with open(sys.argv[2], "w") as out:
    json.dump(result, out)
