"""Two PyrCells on two MPI ranks: rank 0's spikes reach rank 1's dendrite through gid 1.

From a serial `pytest`, pytest-patch runs this test in an `mpiexec -n 2` world of its
own, as it is isolated (nrn_isolate = test).
"""

import numpy as np
import pytest


@pytest.mark.mpi(min_size=2)
def test_spikes_cross_ranks(p):
    p.load_file("cell.hoc")
    cell = p.PyrCell()
    rank = p.parallel.rank
    if rank == 0:
        stim = p.IClamp(cell.soma(0.5))
        stim.delay, stim.dur, stim.amp = 20, 150, 0.3
        p.ParallelCon(cell.soma, 1)
    else:
        synapse = p.ExpSyn(cell.dend(0.1))
        synapse.tau = 2
        p.ParallelCon(1, synapse, weight=0.05, delay=1)
    p.run(200)
    fired = p.parallel.broadcast(np.array(cell.spikes), root=0)
    received = p.parallel.broadcast(np.array(cell.spikes), root=1)
    assert len(fired) > 3
    assert len(received) > 0
    assert received[0] > fired[0] + 1, "after the connection delay"
