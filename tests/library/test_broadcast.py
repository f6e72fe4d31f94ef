"""p.parallel.broadcast: any picklable object from any rank; errors on every rank."""

import numpy as np
import pytest

import patch
from patch import p
from patch.exceptions import BroadcastError, PatchError

# Pickles of these lengths straddle the end of the first message (about 2 KB).
BYTE_LENGTHS = [0, 1, *range(1800, 2100, 7), *range(4000, 4200, 50), 10_000, 70_000]


def of_length(length):
    return bytes(range(256)) * (length // 256) + bytes(length % 256)


def payloads():
    """Picklable things of every kind: plain data, numpy arrays big and small, odd ones."""
    big = np.arange(100_000, dtype=np.float64)
    return {
        "none": None,
        "dict of lists": {"ids": list(range(100)), "names": ["a", "b"], "nested": {"x": (1, 2)}},
        "small array": np.arange(5, dtype=np.int32),
        "big array": big,
        "big 2d array": big.reshape(250, 400),
        "strided array": big[::3],
        "fortran array": np.asfortranarray(big.reshape(250, 400)),
        "structured": np.zeros(20_000, dtype=patch.SPIKE_DTYPE),
        "many arrays": [np.full(10_000, i, dtype=np.float64) for i in range(20)],
        "bytes": bytes(range(256)) * 1000,
        "set": {1, 2.5, "three"},
    }


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        assert a == b


def everywhere(value):
    return p.parallel.allgather(value)


def outcome(function, *args, **kwargs):
    """``("ok", result)`` or ``(exception type name, message)``: safe to gather."""
    try:
        return "ok", function(*args, **kwargs)
    except Exception as error:
        return type(error).__name__, str(error)


# -- a world of one (and every rank of a larger one) -----------------------------------------
@pytest.mark.parametrize("name", sorted(payloads()))
def test_round_trip(name):
    data = payloads()[name]
    root = p.parallel.size - 1
    received = p.parallel.broadcast(data if p.parallel.rank == root else None, root=root)
    assert_same(received, data)


def test_vector_is_broadcast_in_place():
    vector = p.Vector(np.arange(10.0))
    assert p.parallel.broadcast(vector) is vector
    assert list(vector) == list(range(10))


@pytest.mark.parametrize("bad", [lambda: 1, (x for x in ()), {"file": open(__file__)}])
def test_unpicklable_data_is_a_broadcast_error(bad):
    with pytest.raises(BroadcastError, match="Cannot broadcast"):
        p.parallel.broadcast(bad)
    assert p.parallel.broadcast("next") == "next"


def test_hoc_objects_other_than_vectors_are_refused():
    with pytest.raises(BroadcastError, match="only hoc objects that can be broadcast are Vectors"):
        p.parallel.broadcast(p.List())
    assert issubclass(BroadcastError, PatchError)


@pytest.mark.parametrize("root", [-1, 1000, "0", 0.0, True, None])
def test_bad_root(root):
    with pytest.raises(BroadcastError, match="not a rank"):
        p.parallel.broadcast(1, root=root)


def test_numpy_integer_root():
    assert p.parallel.broadcast("x", root=np.int64(0)) == "x"


def test_every_length():
    for length in BYTE_LENGTHS:
        assert p.parallel.broadcast(of_length(length)) == of_length(length)


# -- across ranks ------------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
def test_from_every_root():
    pc = p.parallel
    for root in range(pc.size):
        sent = {"root": root, "values": np.full(50_000, root, dtype=np.int16), "text": "é" * root}
        received = pc.broadcast(sent if pc.rank == root else None, root=root)
        checks = everywhere(
            received["root"] == root
            and received["text"] == sent["text"]
            and np.array_equal(received["values"], sent["values"])
        )
        assert all(checks), (root, checks)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("name", sorted(payloads()))
def test_payloads_across_ranks(name):
    data = payloads()[name]
    received = p.parallel.broadcast(data if p.parallel.rank == 0 else "not this", root=0)
    try:
        assert_same(received, data)
    except AssertionError as error:
        failure = repr(error)
    else:
        failure = None
    assert everywhere(failure) == [None] * p.parallel.size


@pytest.mark.mpi(min_size=2)
def test_every_length_across_ranks():
    for root in range(p.parallel.size):
        for length in BYTE_LENGTHS:
            data = of_length(length) if p.parallel.rank == root else None
            received = p.parallel.broadcast(data, root=root)
            assert all(everywhere(received == of_length(length))), (root, length)


@pytest.mark.mpi(min_size=2)
def test_vectors_across_ranks():
    pc = p.parallel
    values = np.linspace(0, 1, 20_000)
    mine = p.Vector(values if pc.rank == 0 else [7.0])
    same = pc.broadcast(mine, root=0)
    fresh = pc.broadcast(mine if pc.rank == 0 else None, root=0)
    results = everywhere(
        (
            same is mine,
            np.array_equal(mine.as_numpy(), values),
            type(fresh).__name__,
            np.array_equal(fresh.as_numpy(), values),
        )
    )
    assert results == [(True, True, "Vector", True)] * pc.size


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("bad", ["lambda", "list", "root"])
def test_errors_are_raised_on_every_rank_and_ranks_stay_in_step(bad):
    pc = p.parallel
    root = pc.size - 1
    sent = {"lambda": lambda: 1, "list": p.List(), "root": None}[bad]
    result = outcome(
        pc.broadcast, sent if pc.rank == root else None, root=pc.size if bad == "root" else root
    )
    results = everywhere(result)
    assert {kind for kind, _ in results} == {"BroadcastError"}, results
    if bad != "root":
        assert all(f"raised on root {root}" in message for _, message in results)
    # The next broadcast works, from another root.
    assert all(everywhere(pc.broadcast([pc.rank] if pc.rank == 0 else None) == [0]))


@pytest.mark.mpi(min_size=2)
def test_resynchronize_drops_a_broadcast_that_one_rank_never_received():
    pc = p.parallel
    pc.resynchronize()
    if pc.rank == 0:
        pc.broadcast({"a": 1}, root=0)  # rank 1 "raised" before its matching broadcast
    counts = pc.allgather(pc.collectives_entered)
    assert counts[0] == 1 and set(counts[1:]) == {0}  # counted before the allgather
    pc.resynchronize()
    assert pc.collectives_entered == 0
    assert pc.broadcast(5 if pc.rank == 0 else None, root=0) == 5
    assert pc.broadcast(np.arange(3) if pc.rank == 0 else None, root=0).tolist() == [0, 1, 2]


def small_arrays():
    """Arrays under the out-of-band size, of every layout and dtype family."""
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    read_only = np.arange(5, dtype=np.int16)
    read_only.flags.writeable = False
    return {
        "float64": np.arange(128, dtype=np.float64),
        "0-d": np.array(3.5),
        "empty 2d": np.zeros((0, 3), dtype=np.int32),
        "2d": base,
        "fortran": np.asfortranarray(base),
        "strided": base[:, ::2],
        "read-only": read_only,
        "big-endian": np.arange(6, dtype=">i4"),
        "float16": np.linspace(0, 1, 7, dtype=np.float16),
        "complex64": np.array([1 + 2j, np.nan], dtype=np.complex64),
        "bool": np.array([True, False, True]),
        "int8": np.arange(-3, 3, dtype=np.int8),
        "uint64": np.array([2**64 - 1], dtype=np.uint64),
        "longlong": np.arange(4, dtype=np.longlong),
        "nan": np.array([np.nan, -0.0, np.inf]),
        "structured": np.zeros(3, dtype=[("gid", np.int64), ("t", np.float64)]),
        "datetime": np.array(["2020-01-01"], dtype="datetime64[D]"),
        "strings": np.array(["a", "bc"]),
        "objects": np.array([{"a": 1}, None], dtype=object),
        "metadata": np.arange(3, dtype=np.dtype(np.float64, metadata={"unit": "mV"})),
        "subclass": np.ma.masked_array([1.0, 2.0], mask=[False, True]),
        "32 KB": np.arange(4096, dtype=np.float64),
    }


def describe(array):
    """What pickle keeps of an array: type, dtype (with metadata), shape, layout, flags,
    contents."""
    return (
        type(array).__name__,
        array.dtype.str,
        array.dtype.metadata,
        array.shape,
        array.strides,
        array.flags.c_contiguous,
        array.flags.f_contiguous,
        array.flags.writeable,
        array.tolist() if array.dtype.hasobject else array.tobytes(),
        np.ma.getmaskarray(array).tolist() if isinstance(array, np.ma.MaskedArray) else None,
    )


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("name", sorted(small_arrays()))
def test_small_arrays_arrive_as_pickle_rebuilds_them(name):
    import pickle

    array = small_arrays()[name]
    received = p.parallel.broadcast(array if p.parallel.rank == 0 else None, root=0)
    expected = pickle.loads(pickle.dumps(array, protocol=5))
    if p.parallel.rank == 0:
        expected = array  # the root gets back what it sent
    assert everywhere(describe(received) == describe(expected)) == [True] * p.parallel.size


class LongRefusal:
    """Refuses to be pickled with a message longer than the first message of a broadcast."""

    def __reduce__(self):
        raise ValueError("no: " + "x" * 5000)


@pytest.mark.mpi(min_size=2)
def test_a_failure_longer_than_the_first_message_reaches_every_rank():
    pc = p.parallel
    result = outcome(pc.broadcast, LongRefusal() if pc.rank == 0 else None, root=0)
    results = everywhere(result)
    assert {kind for kind, _ in results} == {"BroadcastError"}, results
    assert all("x" * 5000 in message and "raised on root 0" in message for _, message in results)
    assert all(everywhere(pc.broadcast("next" if pc.rank == 0 else None) == "next"))
