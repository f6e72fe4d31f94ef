"""NetCons from sections, segments, cells and pointers to point processes."""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from typing import Any

from . import _graph, _simulation
from ._boot import h, hoc, nrn
from ._hoc import HocObject, SetAttributes, compiled_attributes, hoc_setattr, plain_view
from ._mechanisms import is_point_process, mechanism_of
from ._transform import check_alive, implements, is_pointer, resolve_segment, transform
from ._validate import as_double
from .exceptions import (
    ArgumentError,
    ArgumentValueError,
    NotConnectableError,
    PatchWarning,
    SimulationTimeError,
)


@compiled_attributes
class NetCon(SetAttributes, HocObject, hoc.NetCon):
    """``h.NetCon`` from a section, segment or cell to a point process.

    ``NetCon(source, target, threshold=None, delay=None, weight=None)``: a section or
    segment source means its ``_ref_v`` with the section put on the stack for NEURON.
    Holding the NetCon keeps its source, target and their sections alive.
    """

    __slots__ = ("_refs", "_refs2", "_plain_view", "__weakref__")
    #: What the compiled ``__setattr__`` (``_hoc.COMPILED``) sets on the plain view itself;
    #: ``threshold`` goes through the Python code, which warns for a receiving NetCon.
    _fast_set = frozenset({"delay"})

    def __new__(cls, source: Any = None, target: Any = None, *args: Any, **kwargs: Any) -> NetCon:
        target_mechanism = getattr(type(target), "_mechanism", None)
        if (
            not args
            and not kwargs
            and target_mechanism is not None
            and getattr(type(source), "_mechanism", None) is not None
        ):
            # The common case: from a Patch point process or artificial cell to a Patch
            # synapse. No source section, no sec=, nothing to configure.
            if not target_mechanism.netcon_target:
                raise _not_a_target(target)
            self = _netcon_new(cls, source, target)
            _plain.__set__(self, None)
            _track(self, target, source)
            if type(target).__name__ == "NetStim":  # Patch's classes are named so
                _simulation.watch_netcon(self, target)
            return self
        options = {k: kwargs.pop(k) for k in ("threshold", "delay", "weight") if k in kwargs}
        sec = kwargs.pop("sec", None)
        if kwargs:
            raise ArgumentError(f"NetCon got unexpected keyword arguments {sorted(kwargs)}.")
        source, source_section = _netcon_source(source)
        if sec is not None:
            sec = transform(sec)
            check_alive(sec)
        else:
            sec = source_section
        target = transform(target)
        if target is not None:
            mechanism = mechanism_of(target)
            if mechanism is None or not mechanism.netcon_target:
                raise _not_a_target(target)
        if sec is not None:
            self = hoc.NetCon.__new__(cls, source, target, *args, sec=sec)
        else:
            self = hoc.NetCon.__new__(cls, source, target, *args)
        _plain.__set__(self, None)
        # The section that owns the watched variable: the source's, or the one given as sec=.
        self._setup(sec, target)
        _simulation.watch_netcon(self, target)
        if source_section is None and issubclass(type(source), hoc.HocObject):
            _graph.link(self, _graph.lookup(source))
        configure(self, **options)
        return self

    # NEURON's variables, read and written through a plain view of the NetCon (see
    # _hoc.plain_view): at the cost of raw NEURON's, not three times that.
    @property
    def weight(self) -> Any:
        """The weight vector (``nc.weight[0] = w``)."""
        return _plain_of(self).weight

    @property
    def delay(self) -> float:
        """The delay in ms."""
        return _plain_of(self).delay

    @property
    def threshold(self) -> float:
        """The threshold of the source's voltage in mV."""
        return _plain_of(self).threshold

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _VARIABLES:
            if name == "threshold" and self in RECEIVERS:
                warnings.warn(
                    PatchWarning(
                        f"threshold = {value!r} on a NetCon that receives gid {RECEIVERS[self]} "
                        "(ParallelCon(gid, target)): NEURON applies it to that gid's spike "
                        "detector on this rank, so it changes the threshold of every NetCon "
                        "from the same source, not this connection's. Set the threshold "
                        "where the spikes are sent: ParallelCon(source, gid, threshold=...)."
                    ),
                    stacklevel=2,
                )
            try:  # a value NEURON would refuse is refused here (see as_double)
                setattr(_plain_of(self), name, as_double(value))
            except TypeError as error:
                raise ArgumentError(f"NetCon.{name} = {value!r}: {error}.") from None
        else:
            hoc_setattr(self, name, value)

    def syn(self) -> Any:
        """The target, as the same Python object that was connected."""
        return _graph.lookup(self.baseattr("syn")())

    def pre(self) -> Any:
        """The source point process or artificial cell, as the same Python object."""
        return _graph.lookup(self.baseattr("pre")())


_netcon_new = hoc.NetCon.__new__
_plain = NetCon.__dict__["_plain_view"]
_read_plain = _plain.__get__
_graph.register_class(NetCon, handed_back=True, event_object=True)
_track = _graph.track_returned
#: The NetCon variables a plain view sets (``weight`` is set by index).
_VARIABLES = frozenset({"delay", "threshold"})
#: NetCons made by ``ParallelCon(gid, target)``, with the gid each receives.
RECEIVERS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _plain_of(netcon: Any) -> Any:
    plain = _read_plain(netcon)  # not netcon._plain_view: NEURON's look-up comes first
    if plain is None:
        plain = plain_view(netcon)
        _plain.__set__(netcon, plain)
    return plain


def _not_a_target(target: Any) -> NotConnectableError:
    return NotConnectableError(
        f"A NetCon target must be a point process that receives events (ExpSyn, "
        f"NetStim, a mod with NET_RECEIVE) or None, not {target!r}; place a "
        "synapse first: section.synapse(p.ExpSyn)."
    )


def configure(
    netcon: Any,
    threshold: Any = None,
    delay: Any = None,
    weight: float | Sequence[float] | None = None,
) -> None:
    """Set a NetCon's ``threshold``, ``delay`` and ``weight`` (a number or one per index)."""
    if threshold is not None:
        netcon.threshold = threshold
    if delay is not None:
        if delay < 0:
            raise SimulationTimeError(f"NetCon delay must be >= 0, got {delay!r}.")
        netcon.delay = delay
    if weight is not None:
        weights = [weight] if isinstance(weight, (int, float)) else list(weight)
        if len(weights) > int(netcon.wcnt()):
            raise ArgumentValueError(
                f"{len(weights)} weights given but this NetCon's target has {int(netcon.wcnt())}."
            )
        for i, value in enumerate(weights):
            netcon.weight[i] = value


def _netcon_source(source: Any) -> tuple[Any, Any]:
    """The NEURON source of a NetCon and the section that owns it, if any."""
    if implements(source, "__netcon__"):
        source = source.__netcon__()
    if implements(source, "__arc__"):
        section, x = resolve_segment(source)
        source = section(x)
    source = transform(source)
    if issubclass(type(source), nrn.Section):
        check_alive(source)
        return source(0.5)._ref_v, source
    if issubclass(type(source), nrn.Segment):
        check_alive(source.sec)
        return source._ref_v, source.sec
    if source is None or getattr(type(source), "_mechanism", None) is not None:
        return source, None
    if is_pointer(source) or is_point_process(source):
        return source, None
    raise NotConnectableError(
        f"Cannot use {source!r} as a NetCon source: give a Section, a Segment, a point process, "
        "an artificial cell such as NetStim, a pointer (seg._ref_v) or None."
    )


def netcon_targets_on(section: Any) -> list[str]:
    """Names of the point processes on ``section`` that a NetCon delivers to."""
    netcons = h.List("NetCon")
    names = []
    for i in range(int(netcons.count())):
        target = netcons.o(i).syn()
        if target is None or not target.has_loc():
            continue
        segment = target.get_segment()
        if segment is not None and segment.sec.same(section):
            names.append(target.hname())
    return sorted(set(names))
