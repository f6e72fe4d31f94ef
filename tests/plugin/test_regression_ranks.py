"""One set of goldens for every number of ranks: this module runs serially and under
``mpiexec -n 2 ... --with-mpi -m mpi`` against the goldens committed beside it."""

from __future__ import annotations

import pytest

CELLS = 6


def ring(p):
    """Six Hodgkin-Huxley cells in a ring over the ranks, each exciting the next; a
    NetStim starts the wave at cell 0. Returns this rank's cells by gid and the model."""
    rank, size = p.parallel.rank, p.parallel.size
    cells, model = {}, []
    for gid in range(rank, CELLS, size):
        soma = p.Section(name=f"cell{gid}")
        soma.L = soma.diam = 12.6
        soma.insert("hh")
        cells[gid] = (soma, p.ExpSyn(soma(0.5)))
        p.parallel.set_gid2node(gid, rank)
        model.append(p.ParallelCon(soma, gid))
    for gid, (_, synapse) in cells.items():
        model.append(p.ParallelCon((gid - 1) % CELLS, synapse, weight=0.05, delay=2))
    if 0 in cells:
        kick = p.NetStim()
        kick.start, kick.number = 1, 1
        model.append(p.NetCon(kick, cells[0][1], weight=0.05, delay=1))
    return cells, model


def check_ring(p, recording, trace_regression, spike_regression, feature_regression):
    cells, model = ring(p)
    traces = {f"cell{gid}": recording(soma) for gid, (soma, _) in cells.items()}
    spikes = p.parallel.record_spikes()
    p.run(60)
    gathered = spikes.gather()
    assert sorted(set(gathered["gid"].tolist())) == list(range(CELLS))  # the wave went round
    spike_regression.check(gathered)
    trace_regression.check(traces)
    # The rank holding cell 3 hands its trace over; the others pass None.
    feature_regression.check(traces.get("cell3"), stimulus=(5, 55), features=["spike_count", "AP_amplitude"])


@pytest.mark.mpi
def test_ring_matches_its_goldens_on_any_number_of_ranks(p, recording, trace_regression, spike_regression, feature_regression):
    check_ring(p, recording, trace_regression, spike_regression, feature_regression)


@pytest.mark.mpi(min_size=2)
def test_ring_on_two_ranks(p, recording, trace_regression, spike_regression, feature_regression):
    """Serially, this runs in a child mpiexec; its goldens are checked there."""
    check_ring(p, recording, trace_regression, spike_regression, feature_regression)
