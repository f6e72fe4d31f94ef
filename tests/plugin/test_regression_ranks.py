"""One set of goldens for every number of ranks: this module runs serially and under
``mpiexec -n 2 ... --with-mpi -m mpi`` against the goldens committed beside it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from ring_model import CELLS, ring


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
    feature_regression.check(
        traces.get("cell3"), stimulus=(5, 55), features=["spike_count", "AP_amplitude"]
    )


@pytest.mark.mpi
def test_ring_matches_its_goldens_on_any_number_of_ranks(
    p, recording, trace_regression, spike_regression, feature_regression
):
    check_ring(p, recording, trace_regression, spike_regression, feature_regression)


@pytest.mark.mpi(min_size=2)
def test_ring_on_two_ranks(p, recording, trace_regression, spike_regression, feature_regression):
    """Serially, this runs in a child mpiexec; its goldens are checked there."""
    check_ring(p, recording, trace_regression, spike_regression, feature_regression)
