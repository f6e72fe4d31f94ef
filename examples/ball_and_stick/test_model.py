"""The ball-and-stick model's test suite.

Run it with `pytest`, or `mpiexec -n 2 pytest --with-mpi`.
"""

import numpy as np
import pytest
from model import build


def test_cell_fires_a_regular_train(p):
    cell = build(amp=0.15)
    p.run(50)
    spikes = np.array(cell.spike_times)
    assert len(spikes) == 4
    assert np.all(np.diff(spikes) > 5), "no doublets"


def test_no_current_no_spikes(p):
    cell = build(amp=0.0)
    p.run(50)
    assert cell.spike_times == []


def test_the_dendrite_attenuates_the_spike(p, recording):
    cell = build(amp=0.15)
    soma = recording(cell.soma)
    tip = recording(cell.dend(1))
    p.run(50)
    assert soma.values.max() > 20
    assert tip.values.max() < soma.values.max() - 10
    assert soma.time[-1] == pytest.approx(50)


def test_a_fresh_section_is_silent(p, section, iclamp, recording):
    section.insert("hh")
    iclamp(section, amp=0.0)
    trace = recording(section)
    p.run(10)
    assert np.allclose(trace.values, -65, atol=1)


@pytest.mark.mpi(min_size=2)
def test_a_spike_crosses_ranks(p):
    """Rank 0's cell drives a synapse on rank 1's cell through gid 1."""
    cell = build(amp=0.15 if p.parallel.rank == 0 else 0.0)
    if p.parallel.rank == 0:
        p.ParallelCon(cell.soma, 1)
    synapse = None
    if p.parallel.rank == 1:
        synapse = cell.dend.synapse(p.ExpSyn, x=0.1, tau=2)
        p.ParallelCon(1, synapse, weight=0.05, delay=1)
    p.run(50)
    fired = p.parallel.allgather(len(cell.spike_times))
    assert fired[0] == 4
    assert fired[1] >= 1, "rank 1 fires only if rank 0's spikes arrived"
