"""A ring of Hodgkin-Huxley cells over the ranks, for tests of goldens and configurations.

Cell ``gid`` lives on rank ``gid % size`` and excites cell ``gid + 1`` through a
ParallelCon; a NetStim starts the wave at cell 0. The raster is the same on any number of
ranks, unless ``delay_per_rank`` makes the connection delay depend on the rank count
(the kind of bug that only a run on another rank count shows).
"""

CELLS = 6


def ring(p, delay_per_rank=0.0):
    """Build this rank's cells; returns ``{gid: (soma, synapse)}`` and what keeps them."""
    rank, size = p.parallel.rank, p.parallel.size
    cells, model = {}, []
    for gid in range(rank, CELLS, size):
        soma = p.Section(name=f"cell{gid}")
        soma.L = soma.diam = 12.6
        soma.insert("hh")
        cells[gid] = (soma, p.ExpSyn(soma(0.5)))
        p.parallel.set_gid2node(gid, rank)
        model.append(p.ParallelCon(soma, gid))
    delay = 2 + delay_per_rank * (size - 1)
    for gid, (_, synapse) in cells.items():
        model.append(p.ParallelCon((gid - 1) % CELLS, synapse, weight=0.05, delay=delay))
    if 0 in cells:
        kick = p.NetStim()
        kick.start, kick.number = 1, 1
        model.append(p.NetCon(kick, cells[0][1], weight=0.05, delay=1))
    return cells, model
