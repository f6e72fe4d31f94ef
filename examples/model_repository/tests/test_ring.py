"""The ring network (network/ring.py, raw NEURON) in every configuration, one golden raster."""

import pytest
from network.ring import Ring


@pytest.mark.nrn_configs(ranks=(1, 2), threads=(1, 2), coreneuron=(False, True))
def test_ring_raster(spike_regression):
    ring = Ring()
    ring.run(100)
    spike_regression.check(ring.raster(), window=1e-6)


def test_the_wave_goes_round(p):
    ring = Ring()
    ring.run(100)
    raster = ring.raster()
    assert sorted(raster) == list(range(8))
    assert all(len(times) >= 3 for times in raster.values())
