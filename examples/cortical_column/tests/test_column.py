"""The network: the raster is the golden one on any number of ranks."""

from pathlib import Path

import numpy as np
import pytest
from column import V_REST, Column

from pytest_patch import assert_all, assert_spikes_equal
from pytest_patch.regression import golden

DURATION = 150.0
#: The golden of test_column_raster, which the 2-rank test compares with too.
RASTER = Path(__file__).parent / "test_column" / "test_column_raster.spikes.json"


def run_column(p):
    p.v_init = V_REST
    column = Column()
    spikes = p.parallel.record_spikes()
    p.run(DURATION)
    return column, spikes.gather()


@pytest.mark.mpi
def test_column_raster(p, spike_regression):
    """Runs serially and on every rank of `mpiexec -n N pytest --with-mpi`: the same golden."""
    column, spikes = run_column(p)
    counts = np.bincount(spikes["gid"], minlength=column.n)
    assert_all(np.all(counts >= 2), f"every cell fires a few spikes: {counts}")
    # With a fixed time step, spikes are detected at whole steps (dt = 0.025 ms): a window
    # below one step fails on any spike that moved, and passes on rounding differences.
    spike_regression.check(spikes, window=0.01)


@pytest.mark.nrn_configs(ranks=(1, 2), threads=(1, 2), coreneuron=(False, True))
def test_column_raster_in_every_configuration(p, spike_regression):
    """One golden raster for 1 and 2 ranks, 1 and 2 threads, NEURON and CoreNEURON.

    Each combination is its own test (`test_..._configuration[ranks=2-threads=1-coreneuron]`);
    those on 2 ranks run in one child `mpiexec -n 2` from a serial `pytest`.
    """
    column, spikes = run_column(p)
    spike_regression.check(spikes, window=0.01)


@pytest.mark.mpi(min_size=2)
def test_column_raster_on_two_ranks(p):
    """The 1-rank golden holds on 2 ranks, where half the connections cross ranks.

    Without the recurrent spikes, cells fire up to 0.45 ms later than in the golden, so
    matching it to the time step means the spikes crossed ranks, in time. From a serial
    `pytest` this runs in a child `mpiexec -n 2`.
    """
    column, spikes = run_column(p)
    assert_all(len(column.cells) < column.n, "the cells are spread over the ranks")
    assert_all(np.unique(spikes["rank"]).size == p.parallel.size, "every rank's cells fire")
    expected = golden.read(RASTER, "spikes").data
    times = [(gid, t) for gid, train in expected.items() for t in train]
    reference = np.array(times, dtype=[("gid", np.int64), ("time", np.float64)])
    assert_spikes_equal(spikes, reference, atol=0.01)
