"""``old_style.py`` after docs/migrating.md: the same model, written for Patch 9.

Run through ``run.py`` (``python run.py migrated.py OUT.json``); it leaves its spike times
in ``spikes``, which must be those ``old_style.py`` gave under nrn-patch 8.0.2
(``nrn_patch_8.json``). Each changed line says which entry of the guide it applies.
"""

import patch
from patch import p
from patch.exceptions import NotConnectableError  # moved: patch.exceptions

# nrn-patch 8 set celsius = 32 when it started; Patch leaves NEURON's 6.3.
p.celsius = 32


def make_cell(name):
    soma = p.Section(name=name)
    soma.L = soma.diam = 20
    soma.insert("hh")
    return soma


def connect(source, target, **kwargs):
    try:
        return p.NetCon(source, target, **kwargs)
    except NotConnectableError as error:
        raise SystemExit(f"{source} cannot drive {target}: {error}")


cells = [make_cell(f"cell{i}") for i in range(3)]
assert all(isinstance(cell, patch.Section) for cell in cells)  # patch.objects.Section

# iclamp(amplitude=) is iclamp(amp=); nrn-patch 8's clamp lasted 100 ms, Patch's the run.
clamp = cells[0].iclamp(amp=2, delay=5, duration=100)
syn0 = cells[0].synapse(p.ExpSyn)
stim = p.NetStim()
stim.start, stim.number, stim.interval, stim.noise = 120, 3, 8, 0
kick = connect(stim, syn0, weight=0.1, delay=0)

# p.NetCon(section, synapse) had nrn-patch 8's defaults; connect_points keeps them.
syn1 = cells[1].synapse(p.ExpSyn, tau=2)  # attribute keywords set it at creation
assert isinstance(syn1, patch.PointProcess)  # patch.objects.PointProcess
link = cells[0].connect_points(syn1)

# A transmitting ParallelCon watched for -20 mV in nrn-patch 8; Patch's, for NEURON's 10.
# (Here both give the same spikes: cell1's upstroke crosses both in one time step.)
syn2 = cells[2].synapse(p.ExpSyn, tau=2)
transmitter = p.ParallelCon(cells[1], 1, threshold=-20)
receiver = p.ParallelCon(1, syn2, weight=0.1, delay=1)

recorders = {}
detectors = []
for cell in cells:
    times = p.Vector()
    detector = connect(cell, None, threshold=0)
    detector.record(times)
    detectors.append(detector)
    recorders[cell.name()] = times

p.finitialize(-65)
for _ in range(3):
    p.continuerun(p.t + 50)  # continuerun(50) ran *for* 50 ms; Patch's runs *until* 50

spikes = {name: list(times) for name, times in recorders.items()}
