"""The one ParallelContext: gids, ParallelCon, spike recording, and its collectives."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import _collectives, _graph, _netcon, _simulation
from ._boot import coreneuron, hoc, world
from ._hoc import HocObject
from ._netcon import NetCon
from ._validate import is_integer
from ._vector import Vector
from .exceptions import ParallelConnectError

SPIKE_DTYPE = np.dtype([("gid", np.int64), ("time", np.float64), ("rank", np.int64)])


class SpikeRecorder:
    """Every spike of the gids on this rank, from the moment it was made.

    Made by :meth:`ParallelContext.record_spikes`; ``local()`` gives this rank's spikes
    and ``gather()`` everyone's, as structured arrays of ``gid``, ``time`` and ``rank``.
    """

    def __init__(self, context: ParallelContext) -> None:
        self._context = context
        #: Spike times (ms) and the gid of each, filled in by NEURON during a run.
        self.times = Vector()
        self.gids = Vector()
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


class ParallelContext(HocObject, hoc.ParallelContext):
    """``h.ParallelContext`` with pickle broadcast, gathering and spike recording.

    There is one per process: ``p.parallel``; ``p.ParallelContext()`` and
    ``patch.ParallelContext()`` return that same object.
    """

    __slots__ = ("_refs", "_transfer", "_owned", "_pending", "_receivers", "__weakref__")
    #: Arrays at least this large are broadcast without passing through pickle's buffer.
    OUT_OF_BAND_BYTES = _collectives.OUT_OF_BAND_BYTES

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
        # Every receiver ParallelCon made, and its gid, while the NetCon lives.
        self._receivers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

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
            self._receivers.clear()
            self._transfer = False
        return self.baseattr("gid_clear")(*args)

    def psolve(self, until: float) -> Any:
        """``psolve``, refused where NEURON would crash or hang (see ``p.check_can_continue``)."""
        _simulation.check_can_continue()
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
    def comm(self) -> Any:
        """mpi4py's ``COMM_WORLD`` of this world, or ``None`` when there is no MPI world."""
        return world

    @property
    def rank(self) -> int:
        """This process's rank."""
        return int(self.id())

    @property
    def size(self) -> int:
        """The number of ranks."""
        return int(self.nhost())

    # Send ``data`` from rank ``root`` and return it on every rank (collective): the
    # function itself, so that a small broadcast runs in one Python frame.
    broadcast = _collectives.broadcast

    @property
    def collectives_entered(self) -> int:
        """How many of Patch's collectives (``broadcast``, ``allgather``) this rank has
        entered since the last :meth:`resynchronize`; ranks in step have equal counts."""
        return _collectives.entered()

    def resynchronize(self) -> None:
        """Bring the ranks back in step after one left a collective the others entered.

        Collective: every rank calls it. Patch's collectives move to a fresh communicator,
        so a message sent by a collective that not every rank reached is never received
        by a later one, and ``collectives_entered`` starts again at 0. NEURON's own
        collectives (``allreduce``, ``barrier``, ``psolve``) are not covered.
        """
        _collectives.renew()

    def allgather(self, data: Any) -> list[Any]:
        """Every rank's ``data`` (any picklable object), in rank order, on every rank."""
        return _collectives.allgather(data)

    def record_spikes(self) -> SpikeRecorder:
        """Start recording the spikes of every gid on this rank; see :class:`SpikeRecorder`."""
        return SpikeRecorder(self)


_context: ParallelContext | None = None
_graph.register_class(ParallelContext)


def context() -> ParallelContext:
    """The process's one ParallelContext, made on first use."""
    return _context if _context is not None else ParallelContext()


def prepare(pc: ParallelContext) -> None:
    """What NEURON needs before ``finitialize`` (collective when the world is larger than one).

    Connects pending receivers, sets up transfer variables if any rank declared some,
    checks that no gid has two transmitters, and sets the maximum step for ``psolve``.
    """
    pc._connect_pending()
    received = {gid: netcon.delay for netcon, gid in list(pc._receivers.items())}
    if not needs_psolve(pc):
        _check_transmitted([pc.owned_gids()], [sorted(received)])
        if pc._transfer:
            pc.setup_transfer()
        return
    reports = pc.allgather((pc.owned_gids(), pc._transfer, received))
    owned = [gids for gids, _, _ in reports]
    _check_unique(owned)
    _check_transmitted(owned, [sorted(gids) for _, _, gids in reports])
    instant = sorted(
        (gid, rank)
        for rank, (_, _, gids) in enumerate(reports)
        for gid, delay in gids.items()
        if not delay > 0
    )
    if instant:
        listed = ", ".join(f"gid {gid} on rank {rank}" for gid, rank in instant)
        raise ParallelConnectError(
            f"ParallelCon receivers with delay 0 ({listed}): across ranks a spike needs a "
            "delay > 0 to travel (NEURON would find a usable minimum delay of 0 and never "
            "finish). Give each ParallelCon(gid, target, delay=...) a positive delay."
        )
    if any(transfer for _, transfer, _ in reports):
        pc.setup_transfer()
    pc.set_maxstep(10)


def needs_psolve(pc: ParallelContext) -> bool:
    """Whether spikes may cross ranks, so the run must go through ``psolve``.

    In a world of one, NEURON delivers the spikes of gids like those of any NetCon, and
    the standard run system (with its exact CVode stepping) serves.
    """
    return pc.size > 1 or coreneuron_enabled()


def coreneuron_enabled() -> bool:
    """Whether runs go to CoreNEURON (``p.coreneuron.enable``), which only ``psolve`` reaches."""
    return bool(coreneuron.enable)


def _check_transmitted(owned_by_rank: list[list[int]], received_by_rank: list[list[int]]) -> None:
    """Raise (on every rank) when a receiver listens to a gid that no rank transmits."""
    owned = {gid for gids in owned_by_rank for gid in gids}
    silent = sorted(
        (gid, rank)
        for rank, gids in enumerate(received_by_rank)
        for gid in gids
        if gid not in owned
    )
    if silent:
        listed = ", ".join(f"gid {gid} (received on rank {rank})" for gid, rank in silent)
        raise ParallelConnectError(
            f"No rank transmits {listed}, so its receivers would never get a spike. Make a "
            "ParallelCon(source, gid) for it on one rank, or drop the receivers."
        )


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
    first: Any,
    second: Any,
    *,
    weight: float | None = None,
    delay: float | None = None,
    threshold: float | None = None,
) -> NetCon:
    """``ParallelCon(source, gid)`` transmits; ``ParallelCon(gid, target)`` receives.

    Returns the NetCon that NEURON uses; holding it keeps the source or target alive.
    Receivers are connected to their gid when the next run is prepared
    (``p.finitialize``, ``p.run`` or ``p.parallel.set_maxstep``), so transmitters and
    receivers may be made in any order.
    """
    first_is_gid = is_integer(first)
    second_is_gid = is_integer(second)
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


def _check_gid(gid: Any) -> int:
    if gid < 0:
        raise ParallelConnectError(f"gid {gid} is negative; gids are ints >= 0.")
    return int(gid)


def _transmitter(pc: ParallelContext, source: Any, gid: int, threshold: float | None) -> NetCon:
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
    netcon = NetCon(source, None, threshold=threshold)
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


def _receiver(pc: ParallelContext, gid: int, target: Any, weight: Any, delay: Any) -> NetCon:
    netcon = NetCon(None, target, weight=weight, delay=delay)
    pc._pending.append((weakref.ref(netcon), gid))
    pc._receivers[netcon] = gid
    _netcon.RECEIVERS[netcon] = gid
    return netcon
