"""Collectives over the MPI world: one protocol, raised on every rank when one fails.

Broadcast runs on mpi4py. The root pickles with protocol 5 and sends large contiguous
buffers (numpy arrays, Vectors) out of band, so they travel with one ``MPI_Bcast`` each
and no per-byte Python work. A first message of fixed size carries a header (the root's
verdict, the sizes that follow) and, for small data, the whole pickle: one collective per
small broadcast. The verdict is how an error on the root becomes the same
``BroadcastError`` on every rank instead of a hang.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

from ._boot import hoc, world
from ._validate import is_integer
from ._vector import Vector
from .exceptions import BroadcastError, CollectiveError

# First message: a header (status, pickle length, number of out-of-band buffers, their
# sizes), then as much of the pickle as fits.
_HEADER = struct.Struct("<3q")
_MAX_BUFFERS = 13
_INLINE_AT = _HEADER.size + 8 * _MAX_BUFFERS
_FIRST_BYTES = 1 << 11
_INLINE_BYTES = _FIRST_BYTES - _INLINE_AT
_OK, _FAILED = 0, 1
# Buffers smaller than this stay inside the pickle: a collective each would cost more.
OUT_OF_BAND_BYTES = 1 << 16
_HocObject = hoc.HocObject
_loads = pickle.loads
_dumps = pickle.dumps


class _Epoch:
    """The communicator Patch's collectives use, and how many this rank has entered.

    Ranks that entered different numbers of collectives are out of step: a message one
    rank sent may be received by a later, unrelated collective of another. ``renew()``
    moves every rank to a fresh communicator, where no such message waits.
    """

    comm: Any = world
    entered = 0
    channel: _Channel | None = None  # made on the first broadcast of the epoch


def entered() -> int:
    """How many of Patch's collectives this rank has entered since the last ``renew()``."""
    return _Epoch.entered


def renew() -> None:
    """Move every rank to a fresh communicator (collective); the count starts again at 0."""
    if world is not None and world.Get_size() > 1:
        previous = _Epoch.comm
        _Epoch.comm = world.Dup()
        _Epoch.channel = None
        if previous is not world:
            previous.Free()
    _Epoch.entered = 0


#: The number of ranks of this process's MPI world (1 without one).
SIZE = world.Get_size() if world is not None else 1


def broadcast(data: Any, root: Any) -> Any:
    """Send ``data`` from rank ``root`` and return it on every rank (see ParallelContext)."""
    _Epoch.entered += 1
    size = SIZE
    if not is_integer(root):
        raise BroadcastError(f"root={root!r} is not a rank: give an int from 0 to {size - 1}.")
    if not 0 <= root < size:
        raise BroadcastError(
            f"root={root!r} is not a rank of this world of {size}: give an int from 0 to "
            f"{size - 1}."
        )
    channel = _Epoch.channel
    if channel is None:
        channel = _Epoch.channel = _Channel(_Epoch.comm, size)
    if channel.world is None:  # the root alone: what it gets back is what it sent
        error = _pickle(data)[2]
        if error is not None:
            raise BroadcastError(error)
        return data
    if channel.rank == root:
        return channel.send(data, int(root))
    return channel.receive(data, int(root))


def allgather(data: Any) -> list[Any]:
    """Every rank's ``data`` (any picklable object), in rank order, on every rank.

    Each rank pickles its own data first, so data that one rank cannot send raises
    ``CollectiveError`` on every rank (naming that rank) instead of leaving the others
    waiting.
    """
    _Epoch.entered += 1
    if SIZE == 1:
        return [data]
    try:
        payload: bytes | None = pickle.dumps(data, protocol=5)
        error = None
    except Exception as exception:  # anything pickle raises means: cannot be sent
        payload, error = None, f"{type(data).__name__}: {type(exception).__name__}: {exception}"
    gathered = _Epoch.comm.allgather((error, payload))
    failed = [(rank, message) for rank, (message, _) in enumerate(gathered) if message]
    if failed:
        raise CollectiveError(
            "allgather: "
            + "; ".join(f"rank {rank} cannot send its data ({message})" for rank, message in failed)
            + ". Only picklable data can be gathered."
        )
    return [pickle.loads(payload) for _, payload in gathered]


class _Channel:
    """Broadcast over one MPI communicator (or none, in a world of one)."""

    def __init__(self, world: Any, size: int) -> None:
        self.world: Any = world if world is not None and size > 1 else None
        self.size = size
        self.rank = world.Get_rank() if self.world is not None else 0
        self.first = bytearray(_FIRST_BYTES)
        self.view = memoryview(self.first)
        # mpi4py's Bcast, bound once; the root is passed by position (no keyword parsing).
        # Named Bcast where it is called: a rank stuck in it shows the MPI call's name.
        self.Bcast: Any = self.world.Bcast if self.world is not None else None

    def send(self, data: Any, root: int) -> Any:
        payload, buffers, error = _pickle(data)
        status = _OK
        if error is not None:
            payload, buffers, status = error.encode(), [], _FAILED
        first, length, Bcast = self.first, len(payload), self.Bcast
        _HEADER.pack_into(first, 0, status, length, len(buffers))
        if buffers:
            struct.pack_into(f"<{len(buffers)}q", first, _HEADER.size, *(b.nbytes for b in buffers))
        if length <= _INLINE_BYTES:
            first[_INLINE_AT : _INLINE_AT + length] = payload
            Bcast(first, root)
        else:
            first[_INLINE_AT:] = memoryview(payload)[:_INLINE_BYTES]
            Bcast(first, root)
            Bcast(memoryview(payload)[_INLINE_BYTES:], root)
        if status == _FAILED:
            raise BroadcastError(f"{error} (raised on root {root})")
        for buffer in buffers:
            Bcast(buffer, root)
        return data

    def receive(self, data: Any, root: int) -> Any:
        first, Bcast = self.first, self.Bcast
        Bcast(first, root)
        status, length, count = _HEADER.unpack_from(first)
        if length > _INLINE_BYTES:
            payload: Any = bytearray(length)
            payload[:_INLINE_BYTES] = first[_INLINE_AT:]
            Bcast(memoryview(payload)[_INLINE_BYTES:], root)
        else:
            payload = self.view[_INLINE_AT : _INLINE_AT + length]  # no copy: loads reads it
        if status == _FAILED:
            payload = bytes(payload)
            raise BroadcastError(f"{payload.decode(errors='replace')} (raised on root {root})")
        buffers = []
        if count:
            for size in struct.unpack_from(f"<{count}q", first, _HEADER.size):
                buffer = np.empty(size, dtype=np.uint8)
                Bcast(buffer, root)
                buffers.append(buffer)
        return _unpickle(data, payload, buffers)


def _pickle(data: Any) -> tuple[bytes, list[memoryview], str | None]:
    """Protocol-5 pickle of ``data`` with large buffers out of band, or an error message."""
    if isinstance(data, _HocObject):
        if not isinstance(data, hoc.Vector):
            return (
                b"",
                [],
                (
                    f"Cannot broadcast {data!r}: the only hoc objects that can be broadcast are "
                    "Vectors. Send its data instead (e.g. a list, dict or numpy array)."
                ),
            )
        data = _VectorData(data.as_numpy())
    buffers: list[memoryview] = []
    if type(data) is np.ndarray and data.nbytes < OUT_OF_BAND_BYTES and not data.dtype.hasobject:
        # A small array of numbers, the common case: its buffer stays in the pickle.
        return _dumps(data, protocol=5), buffers, None

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            raw = buffer.raw()
        except BufferError:
            return True
        if raw.nbytes < OUT_OF_BAND_BYTES or len(buffers) == _MAX_BUFFERS:
            return True
        buffers.append(raw)
        return False

    try:
        payload = pickle.dumps(data, protocol=5, buffer_callback=out_of_band)
    except Exception as error:  # anything pickle raises means: not broadcastable
        return (
            b"",
            [],
            (
                f"Cannot broadcast {type(data).__name__}: {type(error).__name__}: {error}. "
                "Only picklable data can be broadcast."
            ),
        )
    return payload, buffers, None


def _unpickle(original: Any, payload: Any, buffers: list[Any]) -> Any:
    data = _loads(payload, buffers=buffers)
    if type(data) is _VectorData:
        if isinstance(original, hoc.Vector):
            original.from_python(data.values)
            return original
        return Vector(data.values)
    return data


class _VectorData:
    """A Vector's values on their way through pickle."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __reduce__(self) -> Any:
        return (_VectorData, (self.values,))
