"""The assertion helpers: short, precise failures, and collective checks that fail together."""

from __future__ import annotations

import numpy as np
import pytest

from patch import SPIKE_DTYPE, exceptions
from pytest_patch import (
    assert_all,
    assert_delivered,
    assert_spikes_equal,
    assert_traces_equal,
    check_broadcast_roundtrip,
    spike_times,
)

DELAY = 2.0


def spikes_of(pairs: list[tuple[int, float]]) -> np.ndarray:
    spikes = np.zeros(len(pairs), dtype=SPIKE_DTYPE)
    spikes["gid"], spikes["time"] = zip(*pairs, strict=False) if pairs else ((), ())
    return spikes


@pytest.fixture
def trace(p, section, iclamp, recording):
    """A 4 001-point voltage trace of a small passive cell under a current step."""
    section.L = section.diam = 10
    section.insert("pas")
    iclamp(section, amp=0.05, delay=20, duration=40)
    v = recording(section)
    p.run(100)
    return v


def test_traces_equal_shows_the_first_difference_only(trace) -> None:
    assert_traces_equal(trace, trace.values.copy())
    assert_traces_equal(trace.vector, trace.values)
    nudged = trace.values.copy()
    nudged[1234] += 0.25
    nudged[3000] += 1.5
    assert_traces_equal(trace, nudged, atol=2.0)
    with pytest.raises(AssertionError) as failure:
        assert_traces_equal(trace, nudged, atol=1e-6)
    message = str(failure.value)
    assert "2 of 4001 points differ" in message
    assert "first at index 1234 (t = 30.85 ms)" in message
    assert "difference 0.25" in message
    assert "largest difference 1.5 at index 3000 (t = 75 ms)" in message
    assert len(message) < 1000 and message.count("\n") < 8


def test_traces_of_different_length(trace) -> None:
    shorter = r"shapes differ: actual \(4001,\), expected \(4000,\).*agree"
    with pytest.raises(AssertionError, match=shorter):
        assert_traces_equal(trace, trace.values[:-1])
    with pytest.raises(AssertionError, match="first at index 0"):
        assert_traces_equal(trace.values[:3], [0, 0])


def test_spike_times_equal() -> None:
    assert_spikes_equal([1.0, 2.0, 3.0], np.array([1.0, 2.0, 3.0 + 1e-12]))
    first = r"first difference at spike #2: actual 3 ms, expected 3.5 ms"
    with pytest.raises(AssertionError, match=first):
        assert_spikes_equal([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.5, 4.0])
    with pytest.raises(AssertionError, match=r"4 spikes, expected 3; first extra spike #3 at 4 ms"):
        assert_spikes_equal([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0])


def test_spike_arrays_compared_gid_by_gid() -> None:
    actual = spikes_of([(0, 1.0), (1, 3.0), (0, 5.0), (2, 6.0)])
    shuffled = actual[::-1].copy()
    shuffled["rank"] = 1  # where a spike came from does not matter
    assert_spikes_equal(actual, shuffled)
    expected = spikes_of([(0, 1.0), (1, 3.25), (0, 5.0), (3, 7.0)])
    with pytest.raises(AssertionError) as failure:
        assert_spikes_equal(actual, expected)
    message = str(failure.value)
    assert "gids that fired but should not have: [2]" in message
    assert "gids that should have fired but did not: [3]" in message
    assert "gid 1: first difference at spike #0: actual 3 ms, expected 3.25 ms" in message
    with pytest.raises(TypeError, match="spike arrays"):
        assert_spikes_equal(actual, [1.0, 3.0])


def build_relay(p, delay: float):
    """gid 0 (a NetStim on rank 0) drives an IntFire1 on the last rank, which fires as gid 1."""
    rank, last = p.parallel.rank, p.parallel.size - 1
    model = [p.Section(name="anchor")]  # p.run records t relative to an accessed section
    if rank == 0:
        stimulus = p.NetStim()
        stimulus.start, stimulus.number, stimulus.interval = 1, 4, 5
        model.append(p.ParallelCon(stimulus, 0))
    if rank == last:
        relay = p.IntFire1()
        model.append(p.ParallelCon(0, relay, weight=2, delay=delay))
        model.append(p.ParallelCon(relay, 1))
    recorder = p.parallel.record_spikes()
    p.run(30)
    return recorder.gather(), model


def check_relay(p) -> None:
    spikes, _ = build_relay(p, DELAY)
    assert spike_times(spikes, 0).tolist() == [1, 6, 11, 16]
    assert sorted(set(spikes[spikes["gid"] == 1]["rank"].tolist())) == [p.parallel.size - 1]
    assert_delivered(spikes, 0, 1, delay=DELAY)
    assert_delivered(spikes, 0, 1, delay=DELAY - 0.5, latency=0.5)
    late = r"(?s)gid 1: .*4 of 4 not delivered; first sent at 1 ms, due at 4 ms"
    with pytest.raises(AssertionError, match=late):
        assert_delivered(spikes, 0, 1, delay=DELAY + 1)
    # Arrival times measured some other way (here: the relay's) work as well as a gid.
    assert_delivered(spikes, 0, p.Vector(spike_times(spikes, 1)), delay=DELAY)
    with pytest.raises(AssertionError, match=r"4 arrivals match no spike .*first at 3.5 ms"):
        assert_delivered(spikes, 0, [3.5, 8.5, 13.5, 18.5], delay=DELAY)


def test_delivered(p) -> None:
    check_relay(p)


def test_delivered_bad_input() -> None:
    spikes = spikes_of([(0, 1.0), (1, 3.0)])
    with pytest.raises(AssertionError, match=r"gid 7 never fired.*gids that fired: \[0, 1\]"):
        assert_delivered(spikes, 7, 1, delay=DELAY)
    with pytest.raises(TypeError, match="at least one receiver"):
        assert_delivered(spikes, 0, delay=DELAY)
    with pytest.raises(ValueError, match="must be >= 0"):
        assert_delivered(spikes, 0, 1, delay=-1.0)


def test_assert_all_serial(p) -> None:
    assert_all(True, "never shown")
    with pytest.raises(AssertionError, match=r"failed on rank 0 of 1:\n  rank 0: weights drifted"):
        assert_all(np.False_, "weights drifted")


PAYLOADS = [
    {"weights": np.linspace(0, 1, 50_000), "labels": ["soma", "dend"], "nan": float("nan")},
    (1, "two", 3.0, None),
    np.arange(12, dtype=np.int32).reshape(3, 4),
]


def test_broadcast_roundtrip_serial(p) -> None:
    for payload in PAYLOADS:
        check_broadcast_roundtrip(payload)
    check_broadcast_roundtrip(p.Vector([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match="from root 0 got"):
        check_broadcast_roundtrip([1, 2], equal=lambda received, sent: False)
    with pytest.raises(exceptions.BroadcastError, match="picklable"):
        check_broadcast_roundtrip(lambda: None)


@pytest.mark.mpi(min_size=2)
def test_assert_all_fails_together(p) -> None:
    rank = p.parallel.rank
    with pytest.raises(AssertionError) as failure:
        assert_all(rank != 1, f"rank {rank} saw the wrong voltage")
    expected = f"failed on rank 1 of {p.parallel.size}:\n  rank 1: rank 1 saw the wrong voltage"
    assert expected in str(failure.value)
    # Nobody is left behind in a collective: the next one completes on every rank.
    assert p.parallel.allgather(rank) == list(range(p.parallel.size))
    assert_all(True)


@pytest.mark.mpi(min_size=2)
def test_broadcast_roundtrip_every_root(p) -> None:
    for payload in PAYLOADS:
        check_broadcast_roundtrip(payload)
    check_broadcast_roundtrip(p.Vector(np.arange(5.0)))
    rank = p.parallel.rank
    with pytest.raises(AssertionError) as failure:
        check_broadcast_roundtrip([1, 2], roots=[1], equal=lambda received, sent: rank != 0)
    assert "rank 0: from root 1 got [1, 2]" in str(failure.value)


@pytest.mark.mpi(min_size=2)
def test_delivered_across_ranks(p) -> None:
    check_relay(p)


def test_vector_comparison_is_explained(p, pytestconfig) -> None:
    def explain(left, right) -> str:
        hook = pytestconfig.hook.pytest_assertrepr_compare
        results = hook(config=pytestconfig, op="==", left=left, right=right)
        return "\n".join(line for lines in results if lines for line in lines)

    values = p.Vector([1.0, 2.0, 3.0])
    explained = explain(values, p.Vector([1.0, 2.5, 3.0]))
    assert "NEURON compares Vectors by identity" in explained
    assert "first at index 1: actual 2, expected 2.5" in explained
    assert "Their values are equal." in explain(values, p.Vector([1.0, 2.0, 3.0]))
    assert "identity" not in explain([1.0], [2.0])
