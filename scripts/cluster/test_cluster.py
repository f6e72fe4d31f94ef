"""The MPI tests of scripts/ci-slurm.sh: run on a one-node Slurm cluster, directly under
``srun`` and as child runs inside ``salloc``. One of them fails on one rank, on purpose:
the leg checks that it is reported, with its rank, and that the others pass."""

import pytest


@pytest.mark.mpi(min_size=2)
def test_the_ranks_share_one_world(p):
    assert p.parallel.size >= 2
    assert p.parallel.broadcast(p.parallel.rank) == 0


@pytest.mark.mpi(min_size=2)
def test_a_parallel_run(p):
    soma = p.Section(name="soma")
    soma.insert("hh")
    v = p.Vector().record(soma(0.5)._ref_v)
    p.run(5)
    assert len(v) > 1


@pytest.mark.mpi(min_size=2)
def test_fails_on_rank_1(p):
    assert p.parallel.rank != 1, "rank 1 fails on purpose"


def test_serial():
    pass
