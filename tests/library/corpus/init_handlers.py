"""A clamp protocol scheduled from FInitializeHandlers with cvode.event callbacks.

Run as ``python init_handlers.py neuron|patch OUT.json``.

The protocol (clamp amplitude steps at given times) is not in the clamp but in Python
callbacks: a type-1 ``FInitializeHandler`` schedules one ``cvode.event(t, callback)`` per
step and a self-rescheduling sampling event; a type-0 handler resets the protocol state
before the mechanisms are initialised; a hoc-statement handler of type 3 counts
initialisations in hoc. The same protocol runs with the fixed step
(``finitialize`` + ``continuerun``) and then with CVode through ``h.run()``.
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.load_file("stdrun.hoc")

soma = h.Section(name="soma")
soma.L = soma.diam = 25
soma.insert("hh")
soma.gkbar_hh = 0.04
clamp = h.IClamp(soma(0.5))
clamp.delay, clamp.dur, clamp.amp = 0, 1e9, 0

PROTOCOL = [(3.0, 0.25), (9.5, 0.0), (14.0, 0.6), (17.25, 0.0), (22.0, 0.12)]
log = []
samples = []


def step_to(amplitude):
    def callback():
        clamp.amp = amplitude
        log.append(["step", h.t, amplitude])
        if h.cvode.active():
            h.cvode.re_init()

    return callback


def sample():
    samples.append([h.t, soma(0.5).v, clamp.amp])
    h.cvode.event(h.t + 2.5, sample)


def reset_protocol():
    clamp.amp = 0
    log.append(["type0", h.t])


def schedule_protocol():
    log.append(["type1", h.t, soma(0.5).v])
    for when, amplitude in PROTOCOL:
        h.cvode.event(when, step_to(amplitude))
    h.cvode.event(0.5, sample)


h("ninit_hoc = 0")
handlers = [
    h.FInitializeHandler(0, reset_protocol),
    h.FInitializeHandler(schedule_protocol),
    h.FInitializeHandler(3, "ninit_hoc += 1"),
]

v = h.Vector()
v.record(soma(0.5)._ref_v)
i = h.Vector()
i.record(clamp._ref_i)
time = h.Vector()
time.record(h._ref_t)
spikes = h.Vector()
detector = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
detector.threshold = 0
detector.record(spikes)


def snapshot():
    entry = {
        "t": h.t,
        "dt": h.dt,
        "ninit_hoc": h.ninit_hoc,
        "log": [list(item) for item in log],
        "samples": [list(item) for item in samples],
        "spikes": list(spikes),
        "time": list(time),
        "v": list(v),
        "i": list(i),
    }
    del log[:], samples[:]
    return entry


result = {}
h.finitialize(-65)
h.continuerun(30)
result["fixed"] = snapshot()

h.cvode.active(1)
h.cvode.atol(1e-5)
h.tstop = 30
h.v_init = -65
h.run()
result["cvode"] = snapshot()
h.cvode.active(0)

with open(sys.argv[2], "w") as out:
    json.dump(result, out)
