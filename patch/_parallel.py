"""The one ParallelContext: spikes across ranks, and broadcast of any picklable object.

Broadcast runs on mpi4py (imported only when a world exists). The root pickles with
protocol 5 and sends large contiguous buffers (numpy arrays, Vectors) out of band, so
they travel with one ``MPI_Bcast`` each and no per-byte Python work. A first message of
fixed size carries a header (the root's verdict, the sizes that follow) and, for small
data, the whole pickle: one collective per small broadcast. The verdict is how an error
on the root becomes the same ``BroadcastError`` on every rank instead of a hang.
"""

from __future__ import annotations

import pickle
import struct
import weakref
from typing import Any

import numpy as np
from neuron import hoc

from . import _objects
from .exceptions import BroadcastError, ParallelConnectError

SPIKE_DTYPE = np.dtype([("gid", np.int64), ("time", np.float64), ("rank", np.int64)])

# First message: a header (status, pickle length, number of out-of-band buffers, their
# sizes), then as much of the pickle as fits.
_HEADER = struct.Struct("<3q")
_MAX_BUFFERS = 13
_INLINE_AT = _HEADER.size + 8 * _MAX_BUFFERS
_FIRST_BYTES = 1 << 11
_INLINE_BYTES = _FIRST_BYTES - _INLINE_AT
_OK, _FAILED = 0, 1
# Buffers smaller than this stay inside the pickle: a collective each would cost more.
_OUT_OF_BAND_BYTES = 1 << 16


class SpikeRecorder:
    """Every spike of the gids on this rank, from the moment it was made.

    Made by :meth:`ParallelContext.record_spikes`; ``local()`` gives this rank's spikes
    and ``gather()`` everyone's, as structured arrays of ``gid``, ``time`` and ``rank``.
    """

    def __init__(self, context: ParallelContext) -> None:
        self._context = context
        #: Spike times (ms) and the gid of each, filled in by NEURON during a run.
        self.times = _objects.Vector()
        self.gids = _objects.Vector()
        context.spike_record(-1, self.times, self.gids)

    def local(self) -> np.ndarray:
        """This rank's spikes: a structured array of ``gid``, ``time``, ``rank``."""
        out = np.empty(int(self.times.size()), dtype=SPIKE_DTYPE)
        out["gid"] = self.gids.as_numpy()
        out["time"] = self.times.as_numpy()
        out["rank"] = self._context.rank
        return out

    def gather(self) -> np.ndarray:
        """Every rank's spikes on every rank, sorted by time then gid (collective)."""
        spikes = np.concatenate(self._context.allgather(self.local()))
        return spikes[np.lexsort((spikes["gid"], spikes["time"]))]

    def __repr__(self) -> str:
        return f"<SpikeRecorder {int(self.times.size())} spikes on rank {self._context.rank}>"


class ParallelContext(_objects.HocObject, hoc.ParallelContext):
    """``h.ParallelContext`` with pickle broadcast, gathering and spike recording.

    There is one per process: ``p.parallel``; ``p.ParallelContext()`` and
    ``patch.ParallelContext()`` return that same object.
    """

    __slots__ = (
        "_refs", "_transfer", "_owned", "_pending", "_channel", "__weakref__"
    )

    def __new__(cls, *args: Any, **kwargs: Any) -> ParallelContext:
        global _context
        if _context is None:
            _context = super().__new__(cls)
            _context._start()
        return _context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _start(self) -> None:
        self._setup()
        self._transfer = False
        self._owned: set[int] = set()
        # Receivers made by ParallelCon, connected once every transmitter is known.
        self._pending: list[tuple[weakref.ref[Any], int]] = []
        self._channel: _Channel | None = None

    # -- bookkeeping that p.run needs ------------------------------------------------------
    def set_gid2node(self, gid: int, rank: int) -> Any:
        """``set_gid2node`` that remembers the gids this rank owns."""
        if int(rank) == self.rank:
            self._owned.add(int(gid))
        return self.baseattr("set_gid2node")(gid, rank)

    def source_var(self, *args: Any, **kwargs: Any) -> Any:
        """``source_var``; afterwards ``p.finitialize`` calls ``setup_transfer``."""
        self._transfer = True
        return self.baseattr("source_var")(*args, **kwargs)

    def target_var(self, *args: Any, **kwargs: Any) -> Any:
        """``target_var``; afterwards ``p.finitialize`` calls ``setup_transfer``."""
        self._transfer = True
        return self.baseattr("target_var")(*args, **kwargs)

    def gid_clear(self, *args: Any) -> Any:
        """``gid_clear``: forget every gid (and transfer variable) of this rank."""
        if not args:
            self._owned.clear()
            self._pending.clear()
            self._transfer = False
        return self.baseattr("gid_clear")(*args)

    def psolve(self, until: float) -> Any:
        """``psolve``, refused where NEURON would crash or hang (see ``p.check_can_continue``)."""
        from ._interpreter import p

        p.check_can_continue()
        return self.baseattr("psolve")(until)

    def set_maxstep(self, maxstep: float) -> float:
        """``set_maxstep`` after connecting the receivers made by ``ParallelCon`` (collective)."""
        self._connect_pending()
        return self.baseattr("set_maxstep")(maxstep)

    def owned_gids(self) -> list[int]:
        """The gids this rank transmits, as far as NEURON still knows them."""
        self._owned = {gid for gid in self._owned if self.gid_exists(gid)}
        return sorted(self._owned)

    def _connect_pending(self) -> None:
        # NEURON wants a rank's transmitters before any receiver of the same gid on it, so
        # ParallelCon receivers are connected here, just before a run, in one go.
        pending, self._pending = self._pending, []
        for reference, gid in pending:
            netcon = reference()
            if netcon is not None:
                self.gid_connect(gid, netcon.syn(), netcon)

    # -- data --------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        """This process's rank."""
        return int(self.id())

    @property
    def size(self) -> int:
        """The number of ranks."""
        return int(self.nhost())

    def broadcast(self, data: Any, root: int = 0) -> Any:
        """Send ``data`` from rank ``root`` and return it on every rank (collective).

        Anything picklable travels; a ``Vector`` is filled in place on ranks that pass
        one. An unpickleable object, or a hoc object other than a Vector, on the root
        raises ``BroadcastError`` on every rank, and the ranks stay in step.

        >>> data = {"weights": np.ones(3)} if p.parallel.rank == 0 else None
        >>> data = p.parallel.broadcast(data, root=0)
        """
        channel = self._channel
        if channel is None:
            channel = self._channel = _Channel(_world(), self.size)
        if type(root) is not int and not (
            isinstance(root, (int, np.integer)) and not isinstance(root, bool)
        ):
            raise BroadcastError(
                f"root={root!r} is not a rank: give an int from 0 to {channel.size - 1}."
            )
        if not 0 <= root < channel.size:
            raise BroadcastError(
                f"root={root!r} is not a rank of this world of {channel.size}: give an int "
                f"from 0 to {channel.size - 1}."
            )
        return channel.broadcast(data, int(root))

    def allgather(self, data: Any) -> list[Any]:
        """Every rank's ``data`` (any picklable object), in rank order, on every rank."""
        world = _world()
        if world is None or world.Get_size() == 1:
            return [data]
        return world.allgather(data)

    def record_spikes(self) -> SpikeRecorder:
        """Start recording the spikes of every gid on this rank; see :class:`SpikeRecorder`."""
        return SpikeRecorder(self)


def _world() -> Any:
    from . import _interpreter

    return _interpreter._world


class _Channel:
    """Broadcast over one MPI communicator (or none, in a world of one)."""

    def __init__(self, world: Any, size: int) -> None:
        self.world = world if world is not None and size > 1 else None
        self.size = size
        self.rank = world.Get_rank() if self.world is not None else 0
        self.first = bytearray(_FIRST_BYTES)

    def broadcast(self, data: Any, root: int) -> Any:
        if self.world is None:  # the root alone: what it gets back is what it sent
            error = _pickle(data)[2]
            if error is not None:
                raise BroadcastError(error)
            return data
        if self.rank == root:
            return self._send(data, root)
        return self._receive(data, root)

    def _send(self, data: Any, root: int) -> Any:
        payload, buffers, error = _pickle(data)
        status = _OK
        if error is not None:
            payload, buffers, status = error.encode(), [], _FAILED
        first, length = self.first, len(payload)
        _HEADER.pack_into(first, 0, status, length, len(buffers))
        if buffers:
            struct.pack_into(f"<{len(buffers)}q", first, _HEADER.size, *(b.nbytes for b in buffers))
        inline = min(length, _INLINE_BYTES)
        first[_INLINE_AT : _INLINE_AT + inline] = payload[:inline]
        self.world.Bcast(first, root=root)
        if length > inline:
            self.world.Bcast(memoryview(payload)[inline:], root=root)
        if status == _FAILED:
            raise BroadcastError(f"{error} (raised on root {root})")
        for buffer in buffers:
            self.world.Bcast(buffer, root=root)
        return data

    def _receive(self, data: Any, root: int) -> Any:
        first = self.first
        self.world.Bcast(first, root=root)
        status, length, count = _HEADER.unpack_from(first)
        if length > _INLINE_BYTES:
            payload: Any = bytearray(length)
            payload[:_INLINE_BYTES] = first[_INLINE_AT:]
            self.world.Bcast(memoryview(payload)[_INLINE_BYTES:], root=root)
        else:
            payload = first[_INLINE_AT : _INLINE_AT + length]
        if status == _FAILED:
            raise BroadcastError(f"{payload.decode(errors='replace')} (raised on root {root})")
        buffers = []
        if count:
            for size in struct.unpack_from(f"<{count}q", first, _HEADER.size):
                buffer = np.empty(size, dtype=np.uint8)
                self.world.Bcast(buffer, root=root)
                buffers.append(buffer)
        return _unpickle(data, payload, buffers)


def _pickle(data: Any) -> tuple[bytes, list[memoryview], str | None]:
    """Protocol-5 pickle of ``data`` with large buffers out of band, or an error message."""
    if isinstance(data, hoc.HocObject):
        if not isinstance(data, hoc.Vector):
            return b"", [], (
                f"Cannot broadcast {data!r}: the only hoc objects that can be broadcast are "
                "Vectors. Send its data instead (e.g. a list, dict or numpy array)."
            )
        data = _VectorData(data.as_numpy())
    buffers: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            raw = buffer.raw()
        except BufferError:
            return True
        if raw.nbytes < _OUT_OF_BAND_BYTES or len(buffers) == _MAX_BUFFERS:
            return True
        buffers.append(raw)
        return False

    try:
        payload = pickle.dumps(data, protocol=5, buffer_callback=out_of_band)
    except Exception as error:  # anything pickle raises means: not broadcastable
        return b"", [], (
            f"Cannot broadcast {type(data).__name__}: {type(error).__name__}: {error}. "
            "Only picklable data can be broadcast."
        )
    return payload, buffers, None


def _unpickle(original: Any, payload: Any, buffers: list[Any]) -> Any:
    data = pickle.loads(payload, buffers=buffers)
    if isinstance(data, _VectorData):
        if isinstance(original, hoc.Vector):
            original.from_python(data.values)
            return original
        return _objects.Vector(data.values)
    return data


class _VectorData:
    """A Vector's values on their way through pickle."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __reduce__(self) -> Any:
        return (_VectorData, (self.values,))


_context: ParallelContext | None = None


def context() -> ParallelContext:
    """The process's one ParallelContext, made on first use."""
    return _context if _context is not None else ParallelContext()


def prepare(pc: ParallelContext) -> None:
    """What NEURON needs before ``finitialize`` (collective when the world is larger than one).

    Connects pending receivers, sets up transfer variables if any rank declared some,
    checks that no gid has two transmitters, and sets the maximum step for ``psolve``.
    """
    pc._connect_pending()
    if not needs_psolve(pc):
        if pc._transfer:
            pc.setup_transfer()
        return
    reports = pc.allgather((pc.owned_gids(), pc._transfer))
    _check_unique([gids for gids, _ in reports])
    if any(transfer for _, transfer in reports):
        pc.setup_transfer()
    pc.set_maxstep(10)


def needs_psolve(pc: ParallelContext) -> bool:
    """Whether spikes may cross ranks, so the run must go through ``psolve``.

    In a world of one, NEURON delivers the spikes of gids like those of any NetCon, and
    the standard run system (with its exact CVode stepping) serves.
    """
    return pc.size > 1


def _check_unique(owned_by_rank: list[list[int]]) -> None:
    """Raise (on every rank, as every rank has the same lists) when ranks share a gid."""
    owners: dict[int, list[int]] = {}
    for rank, owned in enumerate(owned_by_rank):
        for gid in owned:
            owners.setdefault(gid, []).append(rank)
    clashes = {gid: ranks for gid, ranks in owners.items() if len(ranks) > 1}
    if clashes:
        listed = ", ".join(f"gid {gid} on ranks {ranks}" for gid, ranks in sorted(clashes.items()))
        raise ParallelConnectError(
            f"More than one rank transmits the same gid ({listed}); give every "
            "ParallelCon(source, gid) a gid of its own."
        )


def parallel_con(
    first: Any, second: Any, *, weight: float | None = None, delay: float | None = None,
    threshold: float | None = None,
) -> Any:
    """``ParallelCon(source, gid)`` transmits; ``ParallelCon(gid, target)`` receives.

    Returns the NetCon that NEURON uses; holding it keeps the source or target alive.
    Receivers are connected to their gid when the next run is prepared
    (``p.finitialize``, ``p.run`` or ``p.parallel.set_maxstep``), so transmitters and
    receivers may be made in any order.
    """
    first_is_gid = _is_gid(first)
    second_is_gid = _is_gid(second)
    if first_is_gid == second_is_gid:
        raise ParallelConnectError(
            "ParallelCon takes exactly one gid: ParallelCon(source, gid) to transmit the "
            "spikes of source, or ParallelCon(gid, target) to receive them on target; got "
            f"({first!r}, {second!r})."
        )
    pc = context()
    if second_is_gid:
        if weight is not None or delay is not None:
            raise ParallelConnectError(
                "weight and delay belong to the receiving side: "
                "ParallelCon(gid, target, weight=..., delay=...)."
            )
        return _transmitter(pc, first, _check_gid(second), threshold)
    if threshold is not None:
        raise ParallelConnectError(
            "threshold belongs to the transmitting side: ParallelCon(source, gid, threshold=...)."
        )
    return _receiver(pc, _check_gid(first), second, weight, delay)


def _is_gid(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_gid(gid: Any) -> int:
    if gid < 0:
        raise ParallelConnectError(f"gid {gid} is negative; gids are ints >= 0.")
    return int(gid)


def _transmitter(pc: ParallelContext, source: Any, gid: int, threshold: float | None) -> Any:
    exists = int(pc.gid_exists(gid))
    if exists >= 2:
        raise ParallelConnectError(
            f"gid {gid} is already transmitted by rank {pc.rank}; every gid has one source."
        )
    if source is None:
        raise ParallelConnectError(
            f"ParallelCon(None, {gid}) has nothing to transmit: give a Section, a Segment, "
            "an artificial cell (NetStim) or another object a NetCon can watch."
        )
    netcon = _objects.NetCon(source, None, threshold=threshold)
    if not exists:  # a gid set_gid2node gave this rank already needs only its cell
        try:
            pc.set_gid2node(gid, pc.rank)
        except RuntimeError as error:
            raise ParallelConnectError(
                f"gid {gid} is already received on rank {pc.rank} (a run connected its "
                "receivers), and NEURON cannot turn it into a transmitter now. Make every "
                "ParallelCon(source, gid) before the first run, or start over with "
                "p.parallel.gid_clear()."
            ) from error
    pc.cell(gid, netcon)
    return netcon


def _receiver(pc: ParallelContext, gid: int, target: Any, weight: Any, delay: Any) -> Any:
    netcon = _objects.NetCon(None, target, weight=weight, delay=delay)
    pc._pending.append((weakref.ref(netcon), gid))
    return netcon
