"""The one ParallelContext: spikes across ranks, and broadcast of any picklable object.

Broadcast runs on mpi4py (imported only when a world exists). The root pickles with
protocol 5 and sends large contiguous buffers (numpy arrays, Vectors) out of band, so
they travel with one ``MPI_Bcast`` each and no per-byte Python work. A fixed-size header
goes first and carries the root's verdict, which is how an error on the root becomes the
same ``BroadcastError`` on every rank instead of a hang.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from neuron import nrn
from neuron import h, hoc

from . import _objects, _refs
from ._transform import transform
from .exceptions import BroadcastError, ParallelConnectError

# Header: status, payload length, number of out-of-band buffers, then their sizes.
_MAX_BUFFERS = 13
_HEADER = 3 + _MAX_BUFFERS
_OK, _FAILED = 0, 1
# Buffers smaller than this stay inside the pickle: a collective each would cost more.
_OUT_OF_BAND_BYTES = 1 << 16


def _world() -> Any:
    from . import _interpreter

    return _interpreter._world


class SpikeRecorder:
    """Spikes of every gid on this rank, as recorded by ``ParallelContext.spike_record``."""

    def __init__(self, context: ParallelContext) -> None:
        self._context = context
        self.times = _objects.Vector()
        self.gids = _objects.Vector()
        context.spike_record(-1, self.times, self.gids)

    def local(self) -> np.ndarray:
        """This rank's spikes: a structured array of ``gid``, ``time``, ``rank``."""
        rank = int(self._context.id())
        out = np.empty(int(self.times.size()), dtype=SPIKE_DTYPE)
        out["gid"] = self.gids.as_numpy()
        out["time"] = self.times.as_numpy()
        out["rank"] = rank
        return out

    def gather(self) -> np.ndarray:
        """Every rank's spikes on every rank, sorted by time then gid (collective)."""
        parts = self._context.allgather(self.local())
        spikes = np.concatenate(parts) if parts else np.empty(0, dtype=SPIKE_DTYPE)
        return spikes[np.lexsort((spikes["gid"], spikes["time"]))]


SPIKE_DTYPE = np.dtype([("gid", np.int64), ("time", np.float64), ("rank", np.int64)])


class ParallelContext(_objects.HocObject, hoc.ParallelContext):
    """``h.ParallelContext`` with pickle broadcast, gathering and spike recording.

    There is one per process: ``p.parallel`` (``p.ParallelContext()`` returns it too).
    """

    __slots__ = ("_refs", "_transfer", "_gids", "__weakref__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._setup()
        self._transfer = False
        self._gids = False

    # -- bookkeeping that p.run needs ------------------------------------------------------
    def set_gid2node(self, gid: int, rank: int) -> Any:
        self._gids = True
        return self.baseattr("set_gid2node")(gid, rank)

    def gid_connect(self, *args: Any) -> Any:
        self._gids = True
        return self.baseattr("gid_connect")(*args)

    def source_var(self, *args: Any, **kwargs: Any) -> Any:
        self._transfer = True
        return self.baseattr("source_var")(*args, **kwargs)

    def target_var(self, *args: Any, **kwargs: Any) -> Any:
        self._transfer = True
        return self.baseattr("target_var")(*args, **kwargs)

    def gid_clear(self, *args: Any) -> Any:
        if not args:
            self._gids = False
            self._transfer = False
        return self.baseattr("gid_clear")(*args)

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
        one. An unpicklable object or a hoc object other than a Vector on the root raises
        ``BroadcastError`` on every rank.
        """
        size = self.size
        if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < size:
            raise BroadcastError(
                f"root={root!r} is not a rank of this world: use an int from 0 to {size - 1}."
            )
        root = int(root)
        world = _world()
        if world is None or world.Get_size() == 1:
            payload, buffers, error = _pickle(data)
            if error is not None:
                raise BroadcastError(error)
            return _unpickle(data, payload, buffers)
        return _broadcast(world, data, root)

    def allgather(self, data: Any) -> list[Any]:
        """Every rank's ``data``, in rank order, on every rank (collective)."""
        world = _world()
        if world is None or world.Get_size() == 1:
            return [data]
        return world.allgather(data)

    def record_spikes(self) -> SpikeRecorder:
        """Start recording the spikes of every gid on this rank; see :class:`SpikeRecorder`."""
        return SpikeRecorder(self)


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
        return b"", [], f"Cannot broadcast {type(data).__name__}: {type(error).__name__}: {error}"
    return payload, buffers, None


def _unpickle(original: Any, payload: bytes | bytearray, buffers: list[Any]) -> Any:
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


def _broadcast(world: Any, data: Any, root: int) -> Any:
    header = np.zeros(_HEADER, dtype=np.int64)
    is_root = world.Get_rank() == root
    if is_root:
        payload, buffers, error = _pickle(data)
        if error is not None:
            payload = error.encode()
            header[0] = _FAILED
        header[1] = len(payload)
        header[2] = len(buffers)
        header[3 : 3 + len(buffers)] = [buffer.nbytes for buffer in buffers]
    world.Bcast(header, root=root)
    if not is_root:
        payload = np.empty(int(header[1]), dtype=np.uint8)
    world.Bcast(payload, root=root)
    if header[0] == _FAILED:
        raise BroadcastError(
            bytes(payload).decode(errors="replace") + f" (raised on root {root})"
        )
    if is_root:
        for buffer in buffers:
            world.Bcast(buffer, root=root)
        return data
    received = []
    for nbytes in header[3 : 3 + int(header[2])]:
        buffer = np.empty(int(nbytes), dtype=np.uint8)
        world.Bcast(buffer, root=root)
        received.append(buffer)
    return _unpickle(data, payload.data, received)


_context: ParallelContext | None = None


def context() -> ParallelContext:
    """The process's one ParallelContext, made on first use."""
    global _context
    if _context is None:
        _context = ParallelContext()
    return _context


def prepare(pc: ParallelContext) -> None:
    """What NEURON needs before ``finitialize`` when the model spans ranks."""
    if pc._transfer:
        pc.setup_transfer()
    if needs_psolve(pc):
        pc.set_maxstep(10)


def needs_psolve(pc: ParallelContext) -> bool:
    """Whether spikes may cross ranks, so the run must go through ``psolve``.

    Serially, gid connections deliver like any NetCon, and a serial run stays exactly
    the run raw NEURON would do (``set_maxstep`` would change variable-step results).
    """
    return pc.nhost() > 1


def parallel_con(
    first: Any, second: Any, *, weight: float | None = None, delay: float | None = None,
    threshold: float | None = None,
) -> Any:
    """``ParallelCon(source, gid)`` transmits; ``ParallelCon(gid, target)`` receives.

    Returns the NetCon that NEURON uses; it keeps the source or target alive.
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
        return _transmitter(pc, first, int(second), threshold, weight, delay)
    return _receiver(pc, int(first), second, threshold, weight, delay)


def _is_gid(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _transmitter(pc: ParallelContext, source: Any, gid: int, threshold: Any, weight: Any, delay: Any) -> Any:
    if gid < 0:
        raise ParallelConnectError(f"gid {gid} is negative; gids are ints >= 0.")
    if pc.gid_exists(gid):
        raise ParallelConnectError(
            f"gid {gid} is already transmitted by rank {pc.rank}; every gid has one source."
        )
    source = transform(source)
    if not isinstance(source, (nrn.Section, nrn.Segment)) and not _objects.is_point_process(source) and not hasattr(source, "__netcon__"):
        raise ParallelConnectError(
            f"Cannot transmit the spikes of {source!r}: give a Section, a Segment, an "
            "artificial cell (NetStim) or another object a NetCon can watch."
        )
    netcon = _objects.NetCon(source, None, threshold=threshold)
    pc.set_gid2node(gid, pc.rank)
    pc.cell(gid, netcon)
    if threshold is not None:
        pc.threshold(gid, threshold)
    return netcon


def _receiver(pc: ParallelContext, gid: int, target: Any, threshold: Any, weight: Any, delay: Any) -> Any:
    if gid < 0:
        raise ParallelConnectError(f"gid {gid} is negative; gids are ints >= 0.")
    target = transform(target)
    netcon = _objects.NetCon(None, target, weight=weight, delay=delay)
    pc.gid_connect(gid, target, netcon)
    _objects._configure(netcon, threshold=threshold, delay=delay, weight=weight)
    return netcon
