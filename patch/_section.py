"""Sections that keep alive what is placed on them, and SectionRef."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import _clamps, _compat, _graph, _stack
from ._boot import h, hoc, nrn
from ._hoc import HocObject
from ._mechanisms import density_mechanisms, is_point_process, point_processes
from ._netcon import NetCon
from ._point_process import point_process_class
from ._transform import check_alive, implements, is_alive, resolve_segment, transform
from ._validate import is_number
from ._vector import Vector
from .exceptions import (
    ArgumentError,
    NotAPointProcessError,
    SegmentPositionError,
    TopologyError,
    UnknownMechanismError,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._clamps import ClampSettings

T = TypeVar("T")

_section_init = nrn.Section.__init__
_section_connect = nrn.Section.connect


class Section(_compat.SectionCompat, nrn.Section):
    """A NEURON section that keeps alive what is placed on it, and what it is part of.

    ``Section(name=None, cell=None)`` takes the arguments of ``h.Section``.
    """

    __slots__ = ("_refs", "recordings", "__weakref__")

    def __init__(self, name: str | None = None, cell: Any = None) -> None:
        if name is None and cell is None:
            _section_init(self)
        else:
            kwargs: dict[str, Any] = {}
            if name is not None:
                kwargs["name"] = name
            if cell is not None:
                kwargs["cell"] = cell
            _section_init(self, **kwargs)
        # Slots are set through their descriptors: NEURON's setattr would first look for a
        # range variable of that name.
        _section_refs.__set__(self, set())
        #: Vectors made by :meth:`record`, keyed by position along the section.
        _section_recordings.__set__(self, {})

    def __neuron__(self) -> Section:
        return self

    def __str__(self) -> str:
        return nrn.Section.__repr__(self)  # NEURON's text (the name), as with raw h

    def __repr__(self) -> str:
        if not is_alive(self):
            return "<Section (deleted)>"
        return f"<Section {self.name()}>"

    def __enter__(self) -> Section:
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        _stack.leave(self, failed=exc_type is not None)

    # -- topology ------------------------------------------------------------------
    def connect(self, parent: Any, x: float = 1.0, y: float = 0.0) -> Section:
        """Attach this section's ``y`` end to ``parent`` at ``x``; both keep each other alive.

        ``parent`` may be a section or a segment (then its position is used as ``x``).
        """
        if not issubclass(type(parent), nrn.Section):
            if implements(parent, "__arc__") or issubclass(type(parent), nrn.Segment):
                parent, at = resolve_segment(parent)
                x = at
            parent = transform(parent)
            if not issubclass(type(parent), nrn.Section):
                raise ArgumentError(
                    "A section can only connect to a Section or a Segment, not "
                    f"{type(parent).__name__}."
                )
        try:
            in_range = 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        except TypeError:
            in_range = False
        if not in_range:
            for value, label in ((x, "x"), (y, "y")):
                if not 0.0 <= float(value) <= 1.0:
                    raise SegmentPositionError(f"connect: {label}={value!r} must be in [0, 1].")
        try:
            # Each NEURON call here raises ReferenceError for a deleted section (self or
            # parent): cheaper than two check_alive() calls, which format the names.
            if parent.same(self):
                raise TopologyError(f"{self.name()} cannot be connected to itself.")
            if self.children():  # only a section with children can be an ancestor of parent
                segment = parent.parentseg()
                while segment is not None:
                    if segment.sec.same(self):
                        raise TopologyError(
                            f"Connecting {self.name()} to {parent.name()} would make a loop: "
                            f"{parent.name()} already descends from {self.name()}."
                        )
                    segment = segment.sec.parentseg()
            previous = self.parentseg()
            _section_connect(self, parent, x, y)
        except ReferenceError:
            check_alive(self)  # raises DeletedSectionError for whichever was deleted
            check_alive(parent)
            raise
        if previous is not None:  # NEURON moved this section off its old parent
            _graph.unlink(self, previous.sec)
        self._refs.add(parent)
        if issubclass(type(parent), Section):
            parent._refs.add(self)
        return self

    @property
    def parent(self) -> Section | None:
        """The section this one is connected to (the same Python object), or ``None``."""
        segment = self.parentseg()
        return None if segment is None else segment.sec

    def disconnect(self) -> None:
        """Detach this section from its parent; the two no longer keep each other alive."""
        previous = self.parentseg()
        super().disconnect()
        if previous is not None:
            _graph.unlink(self, previous.sec)

    def insert(self, mechanism: Any) -> Section:
        """Insert a density mechanism (``"hh"``); an unknown name says which exist."""
        try:
            nrn.Section.insert(self, mechanism)
        except ValueError as error:
            if not isinstance(mechanism, str):
                raise
            known = sorted(density_mechanisms())
            close = difflib.get_close_matches(mechanism, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownMechanismError(
                f"{self.name()}.insert({mechanism!r}): NEURON has no density mechanism of "
                f"that name.{hint} Compile and load its .mod file first "
                "(patch.load_mechanisms(folder))."
            ) from error
        return self

    def _at(self, x: float) -> Any:
        """The segment at ``x``, a ``SegmentPositionError`` outside ``[0, 1]``."""
        check_alive(self)
        if not is_number(x) or not 0.0 <= x <= 1.0:
            raise SegmentPositionError(
                f"{self.name()}({x!r}): a position along a section is a number in [0, 1]."
            )
        return self(x)

    # -- the section stack ------------------------------------------------------------
    def push(self) -> Section:
        """Put this section on NEURON's section stack; usable as ``with s.push(): ...``
        (popped when the block ends, also on an exception). Returns the section."""
        check_alive(self)
        _stack.push(self)
        return self

    def pop(self) -> None:
        """Take this section, pushed with :meth:`push`, off the top of the section stack."""
        _stack.pop(self)

    # -- sugar -----------------------------------------------------------------------
    def record(self, x: float = 0.5) -> Vector:
        """Record the membrane potential at ``x`` into a Vector kept in ``recordings[x]``.

        Calling it again for the same ``x`` returns the same Vector.
        """
        segment = self._at(x)
        x = float(x)
        existing = self.recordings.get(x)
        if existing is not None:
            return existing
        vector = Vector()
        vector.record(segment)
        self.recordings[x] = vector
        return vector

    def synapse(self, factory: Callable[..., T] | str, x: float = 0.5, **attributes: Any) -> T:
        """Place a point process made by ``factory`` (``p.ExpSyn``, or its name
        ``"ExpSyn"``) at ``x``. Keyword arguments set its attributes (``tau=2``).
        """
        if isinstance(factory, str):
            if factory not in point_processes():
                close = difflib.get_close_matches(factory, sorted(point_processes()), n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise UnknownMechanismError(
                    f"synapse({factory!r}): NEURON has no point process of that name.{hint}"
                )
            factory = point_process_class(factory)
        if not callable(factory):
            raise ArgumentError(
                f"synapse({factory!r}): give a point process class such as p.ExpSyn, or its name."
            )
        made: T = factory(self._at(x), **attributes)
        if not is_point_process(made):
            raise NotAPointProcessError(
                f"synapse({factory!r}) made {made!r}, which is not a point process; give "
                "a point process class such as p.ExpSyn, or its name."
            )
        return made

    def connect_points(
        self,
        target: Any,
        x: float = 0.5,
        *,
        threshold: float | None = -20.0,
        delay: float | None = 1.0,
        weight: float | Sequence[float] | None = 0.1,
    ) -> NetCon:
        """Make a NetCon from the voltage at ``x`` to the point process ``target``, one
        that transmits: a spike of this section (a crossing of ``threshold`` = -20 mV)
        reaches ``target`` after ``delay`` = 1 ms with ``weight`` = 0.1.

        These are nrn-patch 8's defaults for this sugar (its ``connect_synapse``), so a
        migrated model gives the same spikes. ``p.NetCon(section, target)`` stays
        NEURON's, whose defaults (threshold 10 mV, weight 0) make a NetCon that delivers
        nothing until you set a weight. Each keyword overrides its default; ``None``
        leaves NEURON's. ``weight`` may be a sequence, one value per weight index.
        """
        return NetCon(self._at(x), target, threshold=threshold, delay=delay, weight=weight)

    def iclamp(self, x: float | None = None, **settings: Unpack[ClampSettings]) -> Any:
        """Inject current at ``x`` (default 0.5): the clamp of :func:`patch.iclamp`
        (``amp``, ``delay``, ``duration``, with its defaults).

        A position without ``amp`` is refused: nrn-patch 8's first argument was the
        amplitude, so ``s.iclamp(0.3)`` would mean two different clamps.
        """
        settings_ = _compat.iclamp_settings(x, settings)
        return _clamps.iclamp(self._at(0.5 if x is None else x), **settings_)

    def vclamp(
        self,
        x: float = 0.5,
        *,
        voltage: float | Sequence[float] = -65.0,
        duration: float | Sequence[float] = 100.0,
        resistance: float | None = None,
    ) -> Any:
        """Clamp the voltage at ``x`` with an ``SEClamp``: up to three (voltage, duration) steps."""
        return _clamps.vclamp(
            self._at(x), voltage=voltage, duration=duration, resistance=resistance
        )


_section_refs = Section.__dict__["_refs"]
_graph.register_class(Section)
_section_recordings = Section.__dict__["recordings"]


class SectionRef(_compat.SectionRefCompat, HocObject, hoc.SectionRef):
    """``h.SectionRef`` that takes the section positionally or as ``sec=``."""

    __slots__ = ("_refs", "__weakref__")

    def __new__(cls, section: Any = None, *, sec: Any = None) -> SectionRef:
        if section is not None and sec is not None:
            raise ArgumentError(
                "SectionRef takes the section once: SectionRef(s) or SectionRef(sec=s)."
            )
        section = transform(section if section is not None else sec)
        if section is None:
            _stack.require_section("SectionRef")
            section = h.cas()
        if not issubclass(type(section), nrn.Section):
            raise ArgumentError(f"SectionRef needs a Section, not {type(section).__name__}.")
        check_alive(section)
        self = hoc.SectionRef.__new__(cls, sec=section)
        self._setup(section)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


_graph.register_class(SectionRef)
