"""A ring of Hodgkin-Huxley cells spread over the ranks, in raw NEURON.

Cell ``gid`` lives on rank ``gid % nhost`` and excites cell ``gid + 1``; a NetStim kicks
cell 0 once, and the wave goes round. Only built-in mechanisms, and a gid on every cell
whose voltage a NetCon watches, so CoreNEURON runs it as NEURON does.

    ring = Ring()
    ring.run(100)
    ring.spikes()   # {gid: [times]} of this rank's cells
    ring.raster()   # {gid: [times]} of every cell, on every rank
"""

from neuron import h

CELLS = 8


class Ring:
    def __init__(self, cells=CELLS, weight=0.05, delay=1.0):
        self.pc = h.ParallelContext()
        rank, nhost = int(self.pc.id()), int(self.pc.nhost())
        self.cells = {}
        self.netcons = []
        for gid in range(rank, cells, nhost):
            soma = h.Section(name=f"ring{gid}")
            soma.L = soma.diam = 12.6
            soma.insert("hh")
            synapse = h.ExpSyn(soma(0.5))
            synapse.tau = 2
            self.pc.set_gid2node(gid, rank)
            detector = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
            self.pc.cell(gid, detector)
            self.cells[gid] = (soma, synapse)
            self.netcons.append(detector)
        for gid, (_, synapse) in self.cells.items():
            netcon = self.pc.gid_connect((gid - 1) % cells, synapse)
            netcon.weight[0] = weight
            netcon.delay = delay
            self.netcons.append(netcon)
        if 0 in self.cells:
            # An artificial cell needs no gid, in NEURON or CoreNEURON.
            self.kick = h.NetStim()
            self.kick.start, self.kick.number = 1, 1
            netcon = h.NetCon(self.kick, self.cells[0][1])
            netcon.weight[0] = weight
            netcon.delay = 1
            self.netcons.append(netcon)
        self.times, self.gids = h.Vector(), h.Vector()
        self.pc.spike_record(-1, self.times, self.gids)

    def run(self, tstop):
        """Run to ``tstop`` ms on every rank (in CoreNEURON if ``coreneuron.enable``)."""
        self.pc.set_maxstep(10)
        h.finitialize(-65)
        self.pc.psolve(tstop)

    def spikes(self):
        """``{gid: [times]}`` of this rank's cells."""
        trains = {gid: [] for gid in self.cells}
        for gid, time in zip(self.gids, self.times, strict=False):
            trains[int(gid)].append(time)
        return trains

    def raster(self):
        """``{gid: [times]}`` of every cell of the ring, on every rank (collective)."""
        merged = {}
        for part in self.pc.py_allgather(self.spikes()):
            merged.update(part)
        return merged
