"""ParallelCon: spikes sent under a gid on one rank arrive on synapses of another."""

import gc
import warnings
import weakref

import numpy as np
import pytest

import patch
from patch import p
from patch.exceptions import CollectiveError, NotConnectableError, ParallelConnectError, PatchError

WEIGHT, DELAY = 0.25, 3.0


@pytest.fixture(autouse=True)
def _fresh_gids():
    """Each test numbers its own gids; NEURON's gid table is per process."""
    yield
    gc.collect()
    p.parallel.gid_clear()


def spiking_cell(amp=1.0):
    """A Hodgkin-Huxley soma that fires once, shortly after t = 1 ms."""
    soma = p.Section(name="soma")
    soma.L = soma.diam = 10
    soma.insert("hh")
    clamp = soma.iclamp(amp=amp, delay=1, duration=1)
    return soma, clamp


def receiving_synapse():
    """An ExpSyn whose conductance barely decays, and a recording of it."""
    dend = p.Section(name="dend")
    syn = dend.synapse(p.ExpSyn, tau=1e4)
    g = p.Vector().record(syn._ref_g)
    return dend, syn, g


def arrival(g):
    """Time and size of the first jump of a recorded conductance."""
    values = g.as_numpy()
    first = int(np.argmax(values > 0))
    return float(p.time.as_numpy()[first]), float(values.max())


def everywhere(value):
    return p.parallel.allgather(value)


# -- one ParallelContext ------------------------------------------------------------------
def test_one_parallel_context():
    assert p.ParallelContext() is p.parallel
    assert patch.ParallelContext() is p.parallel
    assert isinstance(p.parallel, patch.ParallelContext)
    assert (p.parallel.rank, p.parallel.size) == (int(p.parallel.id()), int(p.parallel.nhost()))


# -- argument shapes -------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [(1, 2), ("soma", "syn"), (np.int64(3), 4), (True, "syn"), ("soma", False)],
    ids=["two gids", "no gid", "numpy gids", "bool is no gid", "bool is no gid 2"],
)
def test_exactly_one_gid(args):
    soma, _ = spiking_cell()
    _, syn, _ = receiving_synapse()
    objects = {"soma": soma, "syn": syn}
    args = [objects.get(a, a) if isinstance(a, str) else a for a in args]
    with pytest.raises(ParallelConnectError, match="exactly one gid"):
        p.ParallelCon(*args)


def test_bad_gids_and_sides():
    soma, _ = spiking_cell()
    _, syn, _ = receiving_synapse()
    with pytest.raises(ParallelConnectError, match="negative"):
        p.ParallelCon(soma, -1)
    with pytest.raises(ParallelConnectError, match="negative"):
        p.ParallelCon(-5, syn)
    with pytest.raises(ParallelConnectError, match="nothing to transmit"):
        p.ParallelCon(None, 1)
    with pytest.raises(ParallelConnectError, match="receiving side"):
        p.ParallelCon(soma, 1, weight=1)
    with pytest.raises(ParallelConnectError, match="transmitting side"):
        p.ParallelCon(1, syn, threshold=0)
    nc = p.ParallelCon(soma, 1)
    with pytest.raises(ParallelConnectError, match="already transmitted"):
        p.ParallelCon(soma(0.2), 1)
    assert isinstance(nc, patch.NetCon)
    assert issubclass(ParallelConnectError, (PatchError, TypeError))


def test_what_cannot_be_connected():
    soma, clamp = spiking_cell()
    with pytest.raises(NotConnectableError):
        p.ParallelCon("not a cell", 3)
    with pytest.raises(NotConnectableError):
        p.ParallelCon(3, soma)  # a section receives no events
    with pytest.raises(NotConnectableError):
        p.ParallelCon(3, clamp)  # an IClamp has no NET_RECEIVE
    assert not p.parallel.gid_exists(3)


# -- spikes in one process -----------------------------------------------------------------
def test_spikes_arrive_with_weight_and_delay():
    soma, clamp = spiking_cell()
    p.ParallelCon(soma, 7, threshold=-10)
    dend, syn, g = receiving_synapse()
    receiver = p.ParallelCon(7, syn, weight=WEIGHT, delay=DELAY)
    spikes = p.parallel.record_spikes()
    p.run(10)
    fired = spikes.local()
    assert list(fired["gid"]) == [7]
    at, size = arrival(g)
    assert at == pytest.approx(fired["time"][0] + DELAY, abs=p.dt)
    assert size == pytest.approx(WEIGHT, rel=1e-3)
    assert (receiver.weight[0], receiver.delay) == (WEIGHT, DELAY)


def test_threshold_is_honoured():
    soma, clamp = spiking_cell()
    netcon = p.ParallelCon(soma, 2, threshold=150)  # above the action potential's peak
    spikes = p.parallel.record_spikes()
    p.run(10)
    assert netcon.threshold == 150
    assert len(spikes.local()) == 0
    netcon.threshold = -10
    p.run(10)
    assert len(spikes.local()) == 1


def test_setting_a_receivers_threshold_warns_that_it_moves_the_transmitters():
    soma, clamp = spiking_cell()
    sender = p.ParallelCon(soma, 4, threshold=-10)
    receiver = p.ParallelCon(4, p.ExpSyn(p.Section()))
    with pytest.warns(patch.exceptions.PatchWarning, match=r"receives gid 4 .*every NetCon"):
        receiver.threshold = 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sender.threshold = -10  # the transmitter's own: no warning
        receiver.delay = 2


def test_artificial_cell_transmits():
    stim = p.NetStim(number=3, start=1, interval=2)
    p.ParallelCon(stim, 11)
    spikes = p.parallel.record_spikes()
    p.run(10)
    assert list(spikes.local()["time"]) == pytest.approx([1, 3, 5])
    assert set(spikes.local()["gid"]) == {11}


def test_spike_recorder_local_and_gathered():
    stims = [p.NetStim(number=2, start=start, interval=4) for start in (2, 1)]
    for gid, stim in enumerate(stims):
        p.ParallelCon(stim, gid + 30)
    spikes = p.parallel.record_spikes()
    p.run(10)
    local, gathered = spikes.local(), spikes.gather()
    assert local.dtype == patch.SPIKE_DTYPE
    assert sorted(local.tolist()) == [(30, 2, 0), (30, 6, 0), (31, 1, 0), (31, 5, 0)]
    assert gathered.tolist() == [(31, 1, 0), (30, 2, 0), (31, 5, 0), (30, 6, 0)]
    assert "4 spikes on rank 0" in repr(spikes)


# -- lifetimes ---------------------------------------------------------------------------
def test_transmitter_keeps_its_source_alive_and_frees_with_it():
    soma, clamp = spiking_cell()
    alive = weakref.ref(soma)
    netcon = p.ParallelCon(soma, 4)
    del soma, clamp
    gc.collect()
    assert alive() is not None
    assert p.parallel.gid_exists(4)
    del netcon
    gc.collect()
    assert alive() is None
    assert not p.parallel.gid_exists(4)
    assert patch.live_objects()["netcons"] == []


def test_receiver_keeps_its_target_alive_and_frees_with_it():
    dend, syn, g = receiving_synapse()
    alive = weakref.ref(syn)
    netcon = p.ParallelCon(4, syn, weight=1)
    del dend, syn, g
    gc.collect()
    assert alive() is not None
    del netcon
    gc.collect()
    assert alive() is None
    assert patch.live_objects() == {"sections": [], "point_processes": [], "netcons": []}


@pytest.mark.parametrize("how", ["dropped", "deleted"])
def test_a_freed_transmitter_leaves_nothing_dangling(how):
    """NEURON's gid table forgets a transmitter whose section is gone; runs go on."""
    soma, clamp = spiking_cell()
    netcon = p.ParallelCon(soma, 9)
    dend, syn, g = receiving_synapse()
    receiver = p.ParallelCon(9, syn, weight=WEIGHT, delay=DELAY)
    if how == "dropped":
        del soma, clamp, netcon
        gc.collect()
    else:
        p.delete_section(sec=soma)
    assert not p.parallel.gid_exists(9)
    # The gid is free for a new transmitter, and the receiver listens to it.
    soma2, clamp2 = spiking_cell()
    p.ParallelCon(soma2, 9)
    spikes = p.parallel.record_spikes()
    p.run(10)
    assert list(spikes.local()["gid"]) == [9]
    assert arrival(g) == pytest.approx((spikes.local()["time"][0] + DELAY, WEIGHT), abs=p.dt)
    assert receiver.weight[0] == WEIGHT


def test_receivers_may_come_before_their_transmitter():
    dend, syn, g = receiving_synapse()
    receiver = p.ParallelCon(12, syn, weight=WEIGHT, delay=DELAY)
    soma, clamp = spiking_cell()
    p.ParallelCon(soma, 12)
    p.run(10)
    assert arrival(g)[1] == pytest.approx(WEIGHT, rel=1e-3)
    # A receiver of a gid that no rank transmits would never get a spike: refused.
    dend2, syn2, g2 = receiving_synapse()
    silent = p.ParallelCon(13, syn2)
    with pytest.raises(
        ParallelConnectError, match=r"No rank transmits gid 13 \(received on rank 0\)"
    ):
        p.run(1)
    del receiver, silent


# -- across ranks --------------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
def test_spikes_cross_ranks_with_weight_and_delay():
    pc = p.parallel
    last = pc.size - 1
    objects = []
    if pc.rank == 0:
        soma, clamp = spiking_cell()
        objects += [soma, clamp, p.ParallelCon(soma, 21, threshold=-10)]
    if pc.rank == last:
        dend, syn, g = receiving_synapse()
        objects += [dend, syn, p.ParallelCon(21, syn, weight=WEIGHT, delay=DELAY)]
    spikes = pc.record_spikes()
    p.run(10)
    fired = spikes.gather()
    received = arrival(g) if pc.rank == last else None
    results = everywhere((pc.rank, len(spikes.local()), received))
    assert [(int(x["gid"]), int(x["rank"])) for x in fired] == [(21, 0)]
    assert [count for _, count, _ in results] == [1] + [0] * last
    at, size = results[last][2]
    assert at == pytest.approx(fired["time"][0] + DELAY, abs=p.dt)
    assert size == pytest.approx(WEIGHT, rel=1e-3)


@pytest.mark.mpi(min_size=2)
def test_a_freed_transmitter_on_another_rank_is_reported_on_every_rank():
    pc = p.parallel
    last = pc.size - 1
    receiver = None
    if pc.rank == 0:
        soma, clamp = spiking_cell()
        netcon = p.ParallelCon(soma, 40)
        del soma, clamp, netcon
        gc.collect()
    if pc.rank == last:
        dend, syn, g = receiving_synapse()
        receiver = p.ParallelCon(40, syn, weight=WEIGHT, delay=DELAY)
    with pytest.raises(
        ParallelConnectError, match=f"No rank transmits gid 40 \\(received on rank {last}\\)"
    ):
        p.run(10)
    del receiver


@pytest.mark.mpi(min_size=2)
def test_spike_recorder_gathers_every_rank():
    pc = p.parallel
    stim = p.NetStim(number=2, start=1 + pc.rank, interval=5)
    p.ParallelCon(stim, 100 + pc.rank)
    spikes = pc.record_spikes()
    p.run(10)
    local, gathered = spikes.local(), spikes.gather()
    expected = sorted(
        [(100 + r, t + r, r) for r in range(pc.size) for t in (1.0, 6.0)],
        key=lambda s: (s[1], s[0]),
    )
    mine = [spike for spike in expected if spike[2] == pc.rank]
    checks = everywhere((local.tolist() == mine, gathered.tolist() == expected))
    assert checks == [(True, True)] * pc.size


@pytest.mark.mpi(min_size=2)
def test_one_gid_on_two_ranks_is_an_error_on_every_rank():
    soma, clamp = spiking_cell()
    netcon = p.ParallelCon(soma, 5)  # every rank claims gid 5
    try:
        p.run(1)
    except ParallelConnectError as error:
        outcome = str(error)
    else:
        outcome = "no error"
    outcomes = everywhere(outcome)
    assert all("gid 5 on ranks [0, 1" in text for text in outcomes), outcomes
    del netcon


@pytest.mark.mpi(min_size=2)
def test_transfer_variables_are_set_up_by_run():
    """source_var/target_var through p.parallel: p.run calls setup_transfer itself."""
    pc = p.parallel
    soma, clamp = spiking_cell(amp=0.5)
    if pc.rank == 0:
        pc.source_var(soma(0.5)._ref_v, 1, sec=soma)
    syn = None
    if pc.rank == 1:
        syn = soma.synapse(p.ExpSyn)
        pc.target_var(syn, syn._ref_e, 1)
    p.run(3)
    values = everywhere(soma(0.5).v if pc.rank == 0 else syn.e if pc.rank == 1 else None)
    assert values[0] == values[1] != 0


@pytest.mark.mpi(min_size=2)
def test_a_receiver_with_delay_zero_is_refused_on_every_rank():
    # NEURON: "usable mindelay is 0", then no run ever finishes.
    pc = p.parallel
    objects = []
    if pc.rank == 0:
        soma, clamp = spiking_cell()
        objects += [soma, clamp, p.ParallelCon(soma, 50)]
    if pc.rank == pc.size - 1:
        dend, syn, g = receiving_synapse()
        objects += [dend, syn, p.ParallelCon(50, syn, weight=WEIGHT, delay=0)]
    with pytest.raises(ParallelConnectError, match=f"delay 0 \\(gid 50 on rank {pc.size - 1}\\)"):
        p.run(5)


@pytest.mark.mpi(min_size=2)
def test_allgather_of_data_one_rank_cannot_send_raises_on_every_rank():
    pc = p.parallel
    data = (lambda: None) if pc.rank == 1 else {"rank": pc.rank}
    with pytest.raises(CollectiveError, match="rank 1 cannot send its data"):
        pc.allgather(data)
    assert pc.allgather(pc.rank) == list(range(pc.size))  # still in step
