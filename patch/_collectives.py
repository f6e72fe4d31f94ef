"""Collectives over the MPI world: one protocol, raised on every rank when one fails.

Broadcast runs on mpi4py. Every broadcast starts with one message of fixed size (2 KB)
whose first byte says what the rest holds:

- small data, the common case: its whole pickle (protocol 5), so a small broadcast is
  one ``MPI_Bcast`` and one ``pickle.loads`` on each receiver, no header to read;
- the root's failure, pickled: how an error on the root becomes the same
  ``BroadcastError`` on every rank instead of a hang;
- for larger data, a header (the pickle's length, the sizes of the buffers that travel
  out of band) and the start of the pickle; the rest of the pickle follows, then each
  large contiguous buffer (numpy arrays, Vectors) with one ``MPI_Bcast`` of its own and
  no per-byte Python work.

A numpy array of numbers below the out-of-band size is pickled as its type code, shape
and buffer, and rebuilt the way pickle rebuilds it (``np.frombuffer(...).reshape``): an
array's own pickle spends most of its time on the dtype and on finding, by name, the
functions that rebuild it. ``pickle.loads`` stops at a pickle's end, so what an earlier,
longer message left in the buffer is never read.
"""

from __future__ import annotations

import pickle
import struct
from functools import partial
from typing import Any

import numpy as np

from ._boot import hoc, world
from ._validate import is_integer
from ._vector import Vector
from .exceptions import BroadcastError, CollectiveError

_FIRST_BYTES = 1 << 11
# What the first byte of the first message says the rest is (a pickle, but for _LARGE):
_DATA = 0  # the data
_ARRAY = 1  # (type code, shape, buffer) of a numpy array
_VECTOR = 2  # a Vector's values
_FAILED = 3  # why the root could not send its data
_LARGE = 4  # not a pickle: a header, the buffers' sizes, the start of the pickle
_HEADER = struct.Struct("<3q")  # what the pickle holds, its length, the number of buffers
# At most this many buffers travel out of band (the rest stay in the pickle): their sizes
# have a fixed place in the first message of a large broadcast, the pickle's start follows.
_MAX_BUFFERS = 13
_SIZES_AT = 1 + _HEADER.size
_HEAD_AT = _SIZES_AT + 8 * _MAX_BUFFERS
_HEAD_BYTES = _FIRST_BYTES - _HEAD_AT
# Buffers smaller than this stay inside the pickle: a collective each would cost more.
OUT_OF_BAND_BYTES = 1 << 16
# The dtypes an array may have to travel as type code, shape and bytes: numpy's own
# instances (native byte order, no metadata), so the type code gives the same dtype back.
_DTYPES = {
    code: np.dtype(code) for code in np.typecodes["AllInteger"] + np.typecodes["AllFloat"] + "?"
}
# Builtin containers and scalars (not their subclasses): no hoc object, no numpy array at
# the top, so nothing to look at before pickling.
_PLAIN = frozenset({dict, list, tuple, set, frozenset, str, bytes, int, float, bool, type(None)})
_HocObject = hoc.HocObject
_Vector = hoc.Vector
_ndarray = np.ndarray
_frombuffer = np.frombuffer
_PickleBuffer: Any = pickle.PickleBuffer  # numpy's stubs do not say arrays are buffers
_loads = pickle.loads
_dumps = pickle.dumps


class _Epoch:
    """The communicator Patch's collectives use, and how many this rank has entered.

    Ranks that entered different numbers of collectives are out of step: a message one
    rank sent may be received by a later, unrelated collective of another. ``renew()``
    moves every rank to a fresh communicator, where no such message waits.
    """

    __slots__ = ("comm", "entered", "channel")

    def __init__(self) -> None:
        self.comm: Any = world
        self.entered = 0
        self.channel: _Channel | None = None  # made on the first broadcast of the epoch


_epoch = _Epoch()


def entered() -> int:
    """How many of Patch's collectives this rank has entered since the last ``renew()``."""
    return _epoch.entered


def renew() -> None:
    """Move every rank to a fresh communicator (collective); the count starts again at 0."""
    if world is not None and world.Get_size() > 1:
        previous = _epoch.comm
        _epoch.comm = world.Dup()
        _epoch.channel = None
        if previous is not world:
            previous.Free()
    _epoch.entered = 0


#: The number of ranks of this process's MPI world (1 without one).
SIZE = world.Get_size() if world is not None else 1


def broadcast(_context: Any, data: Any, root: Any = 0) -> Any:
    """Send ``data`` from rank ``root`` and return it on every rank (collective).

    Anything picklable travels; a ``Vector`` is filled in place on ranks that pass
    one. An unpickleable object, or a hoc object other than a Vector, on the root
    raises ``BroadcastError`` on every rank, and the ranks stay in step.

    >>> data = {"weights": np.ones(3)} if p.parallel.rank == 0 else None
    >>> data = p.parallel.broadcast(data, root=0)
    """
    # This is ParallelContext.broadcast itself (``_context`` is p.parallel): a small
    # broadcast runs in this one frame on every rank; the rest is in the helpers below.
    epoch = _epoch
    epoch.entered += 1
    if type(root) is not int or not 0 <= root < SIZE:
        root = _rank(root)
    channel = epoch.channel or _open(epoch)
    if channel.rank != root:
        Bcast = channel.Bcast  # named Bcast where it is called: a rank stuck in it says so
        Bcast(channel.first, root)
        kind = channel.view[0]
        if kind == _DATA:
            return _loads(channel.body)
        if kind == _ARRAY:
            code, shape, buffer = _loads(channel.body)
            return _frombuffer(buffer, _DTYPES[code]).reshape(shape)
        return _receive(channel, kind, data, root)
    if type(data) in _PLAIN:  # the common case: pickled here, without a frame of its own
        buffers: list[memoryview] = []
        kind, error = _DATA, None
        try:
            payload = _dumps(data, 5, buffer_callback=partial(_out_of_band, buffers))
        except Exception as exception:  # anything pickle raises means: not broadcastable
            kind, payload, buffers, error = _refusal(data, exception)
    else:
        kind, payload, buffers, error = _pickle(data)
    if channel.Bcast is None:  # the root alone: what it gets back is what it sent
        if error is not None:
            raise BroadcastError(error)
        return data
    length = len(payload)
    if length < _FIRST_BYTES and not buffers:
        channel.view[0] = kind
        channel.body[:length] = payload
        channel.Bcast(channel.first, root)
    else:
        _send_large(channel, kind, payload, buffers, root)
    if error is not None:
        raise BroadcastError(f"{error} (raised on root {root})")
    return data


def allgather(data: Any) -> list[Any]:
    """Every rank's ``data`` (any picklable object), in rank order, on every rank.

    Each rank pickles its own data first, so data that one rank cannot send raises
    ``CollectiveError`` on every rank (naming that rank) instead of leaving the others
    waiting.
    """
    _epoch.entered += 1
    if SIZE == 1:
        return [data]
    try:
        payload: bytes | None = pickle.dumps(data, protocol=5)
        error = None
    except Exception as exception:  # anything pickle raises means: cannot be sent
        payload, error = None, f"{type(data).__name__}: {type(exception).__name__}: {exception}"
    gathered = _epoch.comm.allgather((error, payload))
    failed = [(rank, message) for rank, (message, _) in enumerate(gathered) if message]
    if failed:
        raise CollectiveError(
            "allgather: "
            + "; ".join(f"rank {rank} cannot send its data ({message})" for rank, message in failed)
            + ". Only picklable data can be gathered."
        )
    return [pickle.loads(payload) for _, payload in gathered]


def _rank(root: Any) -> int:
    """``root`` as the int rank it names, or ``BroadcastError``."""
    size = SIZE
    if not is_integer(root):
        raise BroadcastError(f"root={root!r} is not a rank: give an int from 0 to {size - 1}.")
    if not 0 <= root < size:
        raise BroadcastError(
            f"root={root!r} is not a rank of this world of {size}: give an int from 0 to "
            f"{size - 1}."
        )
    return int(root)


def _open(epoch: _Epoch) -> _Channel:
    channel = epoch.channel = _Channel(epoch.comm, SIZE)
    return channel


class _Channel:
    """Broadcast over one MPI communicator (or none, in a world of one)."""

    __slots__ = ("rank", "view", "body", "first", "Bcast")

    def __init__(self, world: Any, size: int) -> None:
        alone = world is None or size == 1
        self.rank = 0 if alone else world.Get_rank()
        # The first message of every broadcast: the kind byte, then the pickle (body).
        self.view = memoryview(bytearray(_FIRST_BYTES))
        self.body = self.view[1:]
        # What Bcast is given for it: mpi4py reads a [buffer, count, type] list faster
        # than a buffer whose format it must look up.
        self.first: list[Any] | None = None
        if not alone:
            from mpi4py import MPI  # the world's own module, imported already

            self.first = [self.view, _FIRST_BYTES, MPI.BYTE]
        # mpi4py's Bcast, bound once; the root is passed by position (no keyword parsing).
        self.Bcast: Any = None if alone else world.Bcast


def _pickle(data: Any) -> tuple[int, bytes, list[memoryview], str | None]:
    """What the first message says ``data`` (a numpy array, a hoc object, anything not
    plain) is, its protocol-5 pickle, the buffers that travel out of band; for data that
    cannot be broadcast, the failure and its message."""
    if type(data) is _ndarray:
        dtype = data.dtype
        code = dtype.char
        if _DTYPES.get(code) is dtype and data.nbytes < OUT_OF_BAND_BYTES:
            if data.flags.c_contiguous:  # as pickle would: it keeps Fortran order
                return _ARRAY, _dumps((code, data.shape, _PickleBuffer(data)), 5), [], None
    kind = _DATA
    if isinstance(data, _HocObject):
        if not isinstance(data, _Vector):
            return _failure(
                f"Cannot broadcast {data!r}: the only hoc objects that can be broadcast are "
                "Vectors. Send its data instead (e.g. a list, dict or numpy array)."
            )
        kind, data = _VECTOR, data.as_numpy()
    buffers: list[memoryview] = []
    try:
        payload = _dumps(data, 5, buffer_callback=partial(_out_of_band, buffers))
    except Exception as exception:  # anything pickle raises means: not broadcastable
        return _refusal(data, exception)
    return kind, payload, buffers, None


def _out_of_band(buffers: list[memoryview], buffer: pickle.PickleBuffer) -> bool:
    """Pickle's buffer callback on the root: whether ``buffer`` stays in the pickle (or
    travels on its own, added to ``buffers``)."""
    try:
        raw = buffer.raw()
    except BufferError:
        return True
    if raw.nbytes < OUT_OF_BAND_BYTES or len(buffers) == _MAX_BUFFERS:
        return True
    buffers.append(raw)
    return False


def _refusal(data: Any, error: Exception) -> tuple[int, bytes, list[memoryview], str]:
    return _failure(
        f"Cannot broadcast {type(data).__name__}: {type(error).__name__}: {error}. "
        "Only picklable data can be broadcast."
    )


def _failure(message: str) -> tuple[int, bytes, list[memoryview], str]:
    return _FAILED, _dumps(message, 5), [], message


def _send_large(
    channel: _Channel, kind: int, payload: bytes, buffers: list[memoryview], root: int
) -> None:
    """The root's side of a broadcast whose pickle does not fit in the first message or
    that has buffers out of band. The first message holds a header (what the pickle
    holds, its length, the sizes of the buffers) and as much of the pickle as fits; then
    the rest of the pickle, if any, and each buffer."""
    view, length, Bcast = channel.view, len(payload), channel.Bcast
    view[0] = _LARGE
    _HEADER.pack_into(view, 1, kind, length, len(buffers))
    if buffers:
        struct.pack_into(f"<{len(buffers)}q", view, _SIZES_AT, *(b.nbytes for b in buffers))
    head = min(length, _HEAD_BYTES)
    view[_HEAD_AT : _HEAD_AT + head] = memoryview(payload)[:head]
    Bcast(channel.first, root)
    if length > head:
        Bcast(memoryview(payload)[head:], root)
    for buffer in buffers:
        Bcast(buffer, root)


def _receive(channel: _Channel, kind: int, original: Any, root: int) -> Any:
    """What a receiver returns (or raises) for a first message that is not all the data."""
    if kind == _LARGE:
        view, Bcast = channel.view, channel.Bcast
        kind, length, count = _HEADER.unpack_from(view, 1)
        payload = bytearray(length)
        head = min(length, _HEAD_BYTES)
        payload[:head] = view[_HEAD_AT : _HEAD_AT + head]
        if length > head:
            Bcast(memoryview(payload)[head:], root)
        buffers = []
        for size in struct.unpack_from(f"<{count}q", view, _SIZES_AT) if count else ():
            buffer = np.empty(size, dtype=np.uint8)
            Bcast(buffer, root)
            buffers.append(buffer)
        received = _loads(payload, buffers=buffers)
    else:
        received = _loads(channel.body)
    if kind == _FAILED:
        raise BroadcastError(f"{received} (raised on root {root})")
    if kind == _ARRAY:
        code, shape, buffer = received
        return _frombuffer(buffer, _DTYPES[code]).reshape(shape)
    if kind == _VECTOR:
        if isinstance(original, _Vector):
            original.from_python(received)
            return original
        return Vector(received)
    return received
