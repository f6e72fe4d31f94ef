"""A ring of Hodgkin-Huxley cells gives the same spikes however it is split over ranks.

Run as a script (``python tests/library/test_ring.py`` or under ``mpiexec -n N``) it prints the
ring's spikes, gathered on rank 0, as JSON.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from patch import p

CELLS = 7
DURATION = 100.0


class Cell:
    """Soma with Hodgkin-Huxley channels, a passive dendrite and an ExpSyn on it."""

    def __init__(self, gid):
        self.gid = gid
        self.soma = p.Section(name=f"soma_{gid}")
        self.soma.L = self.soma.diam = 12.6157
        self.soma.insert("hh")
        self.dend = p.Section(name=f"dend_{gid}")
        self.dend.L, self.dend.diam, self.dend.nseg = 200, 1, 5
        self.dend.insert("pas")
        self.dend.connect(self.soma)
        self.syn = self.dend.synapse(p.ExpSyn, x=0.5, tau=2)


def build_ring(owner, cells=CELLS):
    """The ring, with cell ``gid`` built on rank ``owner(gid)``; returns what must live."""
    pc = p.parallel
    kept = []
    for gid in range(cells):
        if owner(gid) != pc.rank:
            continue
        cell = Cell(gid)
        transmitter = p.ParallelCon(cell.soma, gid, threshold=10)
        receiver = p.ParallelCon((gid - 1) % cells, cell.syn, weight=0.01, delay=5)
        kept += [cell, transmitter, receiver]
        if gid == 0:
            kick = p.NetStim(number=1, start=1)
            kept += [kick, p.NetCon(kick, cell.syn, weight=0.01, delay=1)]
    return kept


def run_in_halves():
    p.finitialize(-65)
    p.continuerun(DURATION / 2)
    p.continuerun(DURATION)


def ring_spikes(owner, cells=CELLS, run=lambda: p.run(DURATION)):
    """Build, run and tear down a ring; every rank gets all spikes as (gid, time) pairs."""
    pc = p.parallel
    kept = build_ring(owner, cells)
    recorder = pc.record_spikes()
    run()
    spikes = recorder.gather()
    del kept
    pc.gid_clear()
    return [
        (int(gid), float(time)) for gid, time in zip(spikes["gid"], spikes["time"], strict=False)
    ]


def round_robin(gid):
    return gid % p.parallel.size


def check_ring(spikes, cells=CELLS):
    """The kick goes round the ring: every cell fires, each one 'delay' after the previous."""
    gids = [gid for gid, _ in spikes]
    assert gids[:cells] == list(range(cells)), spikes
    times = np.array([time for _, time in spikes])
    assert np.all(np.diff(times) > 5)


@pytest.fixture(autouse=True)
def _fresh_gids():
    yield
    p.parallel.gid_clear()


def test_ring_goes_round():
    check_ring(ring_spikes(round_robin))


@pytest.mark.mpi(min_size=2)
def test_ring_same_whether_split_or_on_one_rank_or_run_in_halves():
    split = ring_spikes(round_robin)
    on_last = ring_spikes(lambda gid: p.parallel.size - 1)
    halves = ring_spikes(lambda gid: (gid + 1) % p.parallel.size, run=run_in_halves)
    results = p.parallel.allgather((split, on_last, halves))
    check_ring(split)
    assert split == on_last == halves
    assert all(result == (split, on_last, halves) for result in results)


@pytest.mark.slow
def test_ring_same_serially_and_on_three_ranks():
    """The script run by plain python and by ``mpiexec -n 3`` prints the same spikes."""
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "OMPI_"))}

    def run(*launcher):
        result = subprocess.run(
            [*launcher, sys.executable, __file__],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    serial = run()
    parallel = run(mpiexec, "-n", "3")
    assert serial["size"] == 1 and parallel["size"] == 3
    check_ring([tuple(spike) for spike in serial["spikes"]])
    assert parallel["spikes"] == serial["spikes"]


if __name__ == "__main__":
    spikes = ring_spikes(round_robin)
    if p.parallel.rank == 0:
        print(json.dumps({"size": p.parallel.size, "spikes": spikes}))
