"""Vector.play and Vector.record set up entirely in hoc, read back from Python.

Run as ``python hoc_play_record.py neuron|patch OUT.json``.

An HH axon whose stimulus current is a piecewise-linear waveform played continuously
into ``stim.amp`` (play with a time Vector, interpolated), whose sodium conductance at
one segment is stepped once per ms (play with a Dt), and whose voltage is recorded every
step, every 0.5 ms (record with a Dt) and at listed times (record with a time Vector).
The objref Vectors live in hoc; the script reads them as ``h.name``.
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")
h("""
create axon
axon {
    nseg = 21  L = 1200  diam = 2  Ra = 100
    insert hh
}

objref stim, tplay, iplay, gplay, vprox, vdist, trec, vsampled, tsample, vattimes, mrec
axon stim = new IClamp(0.02)
stim.del = 0
stim.dur = 1e9

// a piecewise-linear current: ramps, plateaus, a pause, a second pulse
tplay = new Vector()
iplay = new Vector()
{tplay.append(0, 1, 2, 5, 6, 9, 12, 12.5, 14, 25)}
{iplay.append(0, 0, 1.2, 1.2, 0, 0, 0.9, 0.9, 0, 0)}
{iplay.play(&stim.amp, tplay, 1)}

// the sodium conductance in the middle of the axon, one value per ms
gplay = new Vector(26)
{gplay.indgen(0.06, 0.004)}
{gplay.play(&axon.gnabar_hh(0.5), 1)}

vprox = new Vector()
{vprox.record(&axon.v(0.05))}
vdist = new Vector()
{vdist.record(&axon.v(0.95))}
mrec = new Vector()
{mrec.record(&axon.m_hh(0.5))}
trec = new Vector()
{trec.record(&t)}
vsampled = new Vector()
{vsampled.record(&axon.v(0.5), 0.5)}
tsample = new Vector()
{tsample.append(0.3, 2.2, 4.7, 7.1, 12.65, 19.9, 24.4)}
vattimes = new Vector()
{vattimes.record(&axon.v(0.5), tsample)}
""")

h.tstop = 25
h.run()

result = {
    "t": h.t,
    "dt": h.dt,
    "stim_amp": h.stim.amp,
    "gnabar_mid": h.axon(0.5).gnabar_hh,
}
for name in ("vprox", "vdist", "mrec", "trec", "vsampled", "vattimes"):
    result[name] = list(getattr(h, name))

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
