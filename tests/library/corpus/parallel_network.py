"""The CVode ring of cvode_network.py spread over ranks with gids, run with psolve.

Run as ``mpiexec -n N python parallel_network.py neuron|patch OUT.json``.

The usual ParallelContext ceremony written out by hand: ``nrnmpi_init()``, cells placed
round-robin with ``set_gid2node`` / ``cell``, connections with ``gid_connect``, all spikes
recorded with ``spike_record(-1, ...)``, then ``set_maxstep``, ``stdinit()`` and
``psolve(tstop)``; rank 0 gathers everything and writes it out. With ``patch`` the script
is unchanged: ``p`` passes every call through.
"""

import json
import sys

if sys.argv[1] == "patch":
    from patch import p as h
else:
    from neuron import h

h.nrnmpi_init()
h.load_file("stdrun.hoc")
pc = h.ParallelContext()
rank, nhost = int(pc.id()), int(pc.nhost())
NCELLS = 5


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
        self.syn = h.ExpSyn(self.dend(0.5))
        self.syn.tau = 2
        self.inhibition = h.Exp2Syn(self.soma(0.5))
        self.inhibition.tau1, self.inhibition.tau2, self.inhibition.e = 1, 8, -80
        self.v = h.Vector()
        self.v.record(self.soma(0.5)._ref_v)


cells = {}
for gid in range(rank, NCELLS, nhost):
    cell = BallStick(gid)
    cells[gid] = cell
    pc.set_gid2node(gid, rank)
    detector = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
    detector.threshold = 10
    pc.cell(gid, detector)

connections = []
for gid, cell in cells.items():
    nc = pc.gid_connect((gid - 1) % NCELLS, cell.syn)
    nc.delay, nc.weight[0] = 3, 0.012
    connections.append(nc)
if 1 in cells:
    nc = pc.gid_connect(3, cells[1].inhibition)
    nc.delay, nc.weight[0] = 1.5, 0.01
    connections.append(nc)

if 0 in cells:
    stim = h.NetStim()
    stim.number, stim.start, stim.interval, stim.noise = 4, 5, 18, 0
    drive = h.Exp2Syn(cells[0].dend(0.5))
    drive.tau1, drive.tau2, drive.e = 0.5, 3, 0
    stim_nc = h.NetCon(stim, drive)
    stim_nc.weight[0], stim_nc.delay = 0.02, 1

spike_times = h.Vector()
spike_gids = h.Vector()
pc.spike_record(-1, spike_times, spike_gids)

h.cvode.active(1)
h.cvode.atol(1e-4)
h.tstop = 80
pc.set_maxstep(10)
h.stdinit()
pc.psolve(h.tstop)

local = {
    "rank": rank,
    "t": h.t,
    "spikes": sorted(zip(spike_gids, spike_times, strict=False)),
    "v": {gid: list(cell.v) for gid, cell in cells.items()},
}
everyone = pc.py_gather(local, 0)
if rank == 0:
    result = {
        "nhost": nhost,
        "ranks": [{"rank": part["rank"], "t": part["t"]} for part in everyone],
        "spikes": sorted(pair for part in everyone for pair in part["spikes"]),
        "v": {str(gid): trace for part in everyone for gid, trace in part["v"].items()},
    }
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)
pc.barrier()
pc.done()
