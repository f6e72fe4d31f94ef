"""A three-cell chain written for nrn-patch 8, Patch's predecessor on PyPI.

Run through ``run.py`` (``python run.py old_style.py OUT.json``); it leaves its spike
times in ``spikes``. Everything here is nrn-patch 8.0.2 style and runs there as written.
It also runs against Patch 9, with a DeprecationWarning for each old name, but four things
mean something else there (see ``migrated.py`` and docs/migrating.md):

- nrn-patch 8 set ``celsius = 32`` when it started; Patch leaves NEURON's 6.3;
- ``p.NetCon(source, synapse)`` had nrn-patch 8's defaults (threshold -20 mV, weight 0.1,
  delay 1 ms); Patch's ``p.NetCon`` is NEURON's (threshold 10 mV, weight 0);
- ``p.ParallelCon(section, gid)`` watched for -20 mV; Patch's, like NEURON, for 10 mV;
- ``p.continuerun(50)`` ran *for* 50 ms; Patch's, like NEURON's, runs *until* t = 50.
"""

from patch import NotConnectableError, p
from patch.objects import PointProcess, Section


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
assert all(isinstance(cell, Section) for cell in cells)

# The first cell fires at the onset of its clamp and stays depolarised for the clamp's
# default 100 ms; after that, three synaptic kicks make it fire again.
clamp = cells[0].iclamp(amplitude=2, delay=5)
syn0 = cells[0].synapse(p.ExpSyn)
stim = p.NetStim()
stim.start, stim.number, stim.interval, stim.noise = 120, 3, 8, 0
kick = connect(stim, syn0, weight=0.1, delay=0)

# cell0 -> cell1: a NetCon that relies on nrn-patch 8's defaults.
syn1 = cells[1].synapse(p.ExpSyn)
syn1.tau = 2
assert isinstance(syn1, PointProcess)
link = connect(cells[0], syn1)

# cell1 -> cell2: the transmitter-receiver pattern, on one rank.
syn2 = cells[2].synapse(p.ExpSyn)
syn2.tau = 2
transmitter = p.ParallelCon(cells[1], 1)
receiver = p.ParallelCon(1, syn2, weight=0.1, delay=1)

# A spike is a crossing of 0 mV at the middle of a cell.
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
    p.continuerun(50)

spikes = {name: list(times) for name, times in recorders.items()}
