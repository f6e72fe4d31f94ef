"""Patch's NEURON objects: real NEURON types, subclassed.

Every wrapper *is* the NEURON object (a subclass of ``nrn.Section`` or of the hoc class),
so attribute access runs at NEURON's own speed, NEURON hands back the same Python object
(``h.cas() is s``), and Patch objects can be passed to raw ``h`` calls unchanged. What a
subclass adds is a ``_refs`` set that keeps dependencies alive, and the Candy Guide sugar.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from collections.abc import Iterable, Sequence
import weakref
from typing import Any, NamedTuple

from neuron import nrn
from neuron import HocBaseObject, h, hoc

from . import _refs
from ._transform import implements, is_pointer, resolve_segment, transform
from .exceptions import (
    DeletedSectionError,
    NotConnectableError,
    NotRecordableError,
    SectionAccessError,
    SegmentPositionError,
    SimulatorError,
)


class _Mechanism(NamedTuple):
    artificial: bool
    netcon_target: bool


_point_processes: dict[str, _Mechanism] = {}


def point_processes() -> dict[str, _Mechanism]:
    """Every point process and artificial cell NEURON knows: name -> (artificial, target).

    Built-in ones and those of loaded mod files; the table is read again whenever NEURON
    knows a different number of them (after ``nrn_load_dll``, however it was called).
    """
    kind = h.MechanismType(1)
    if len(_point_processes) != int(kind.count()):
        name = h.ref("")
        for i in range(int(kind.count())):
            kind.select(i)
            kind.selected(name)
            _point_processes[name[0]] = _Mechanism(
                bool(kind.is_artificial(i)), bool(kind.is_netcon_target(i))
            )
    return _point_processes


def _hoc_name(obj: Any) -> str:
    try:
        return obj.hname().split("[", 1)[0]
    except Exception:
        return ""


def _mechanism_of(obj: Any) -> _Mechanism | None:
    if issubclass(type(obj), nrn.Section):
        return None
    if issubclass(type(obj), PointProcess):
        return obj._mechanism
    if not issubclass(type(obj), hoc.HocObject):
        return None
    name = _hoc_name(obj)
    return point_processes().get(name)


def is_point_process(obj: Any) -> bool:
    """Whether ``obj`` is a NEURON point process or artificial cell."""
    return _mechanism_of(obj) is not None


def is_alive(section: Any) -> bool:
    """Whether ``section`` still exists in NEURON (``h.delete_section`` removes it)."""
    try:
        section.name()
    except ReferenceError:
        return False
    return True


def check_alive(section: Any) -> None:
    """Raise ``DeletedSectionError`` when ``section`` was deleted from NEURON."""
    if not is_alive(section):
        raise DeletedSectionError(
            "This section was deleted from NEURON (h.delete_section) and cannot be used; "
            "create a new Section instead."
        )


class HocObject:
    """Behaviour shared by every Patch hoc object (mixed into a hoc class)."""

    __slots__ = ()

    def __neuron__(self) -> Any:
        """The NEURON object: a Patch object is one already."""
        return self

    #: Whether NEURON hands this kind of object back (``nc.syn()``), so that the same
    #: Python object must be found again for it.
    _returned_by_neuron = False

    def _setup(self, *dependencies: Any) -> None:
        refs = self._refs = set()
        if self._returned_by_neuron:
            _refs.register(self, self._event_object())
        for dependency in dependencies:
            if dependency is not None:
                refs.add(dependency)
                theirs = getattr(dependency, "_refs", None)
                if theirs is not None:
                    theirs.add(self)

    def _event_object(self) -> bool:
        """Whether NEURON's event queue may point at this object."""
        return False

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {self.hname()}>"
        except Exception:
            return f"<{type(self).__name__} (invalid)>"


class Section(nrn.Section):
    """A NEURON section that keeps alive what is placed on it, and what it is part of.

    ``Section(name=None, cell=None)`` takes the arguments of ``h.Section``.
    """

    __slots__ = ("_refs", "recordings", "__weakref__")

    def __init__(self, name: str | None = None, cell: Any = None) -> None:
        kwargs: dict[str, Any] = {}
        if name is not None:
            kwargs["name"] = name
        if cell is not None:
            kwargs["cell"] = cell
        super().__init__(**kwargs)
        self._refs: set[Any] = set()
        #: Vectors made by :meth:`record`, keyed by position along the section.
        self.recordings: dict[float, Vector] = {}

    def __neuron__(self) -> Section:
        return self

    def __repr__(self) -> str:
        if not is_alive(self):
            return "<Section (deleted)>"
        return f"<Section {self.name()}>"

    # -- topology ------------------------------------------------------------------
    def connect(self, parent: Any, x: float = 1.0, y: float = 0.0) -> Section:
        """Attach this section's ``y`` end to ``parent`` at ``x``; both keep each other alive.

        ``parent`` may be a section or a segment (then its position is used as ``x``).
        """
        if not issubclass(type(parent), nrn.Section) and (
            implements(parent, "__arc__") or issubclass(type(parent), nrn.Segment)
        ):
            parent, at = resolve_segment(parent)
            x = at
        parent = transform(parent)
        if not issubclass(type(parent), nrn.Section):
            raise TypeError(
                f"A section can only connect to a Section or a Segment, not {type(parent).__name__}."
            )
        check_alive(self)
        check_alive(parent)
        for value, label in ((x, "x"), (y, "y")):
            if not 0.0 <= float(value) <= 1.0:
                raise SegmentPositionError(f"connect: {label}={value!r} must be in [0, 1].")
        if parent.same(self):
            raise ValueError("A section cannot be connected to itself.")
        if self.children():  # only a section with children can be an ancestor of parent
            segment = parent.parentseg()
            while segment is not None:
                if segment.sec.same(self):
                    raise ValueError(
                        f"Connecting {self.name()} to {parent.name()} would make a loop: "
                        f"{parent.name()} already descends from {self.name()}."
                    )
                segment = segment.sec.parentseg()
        previous = self.parentseg()
        super().connect(parent, x, y)
        if previous is not None:
            _refs.unlink(self, previous.sec)  # NEURON moved this section off its old parent
        _refs.link(self, parent)
        return self

    def disconnect(self) -> None:
        """Detach this section from its parent; the two no longer keep each other alive."""
        previous = self.parentseg()
        super().disconnect()
        if previous is not None:
            _refs.unlink(self, previous.sec)

    # -- the section stack ------------------------------------------------------------
    def push(self) -> _Pushed:
        """Put this section on NEURON's section stack; usable as ``with s.push(): ...``."""
        check_alive(self)
        super().push()
        _pushed.append(self)
        return _Pushed(self)

    def pop(self) -> None:
        """Take this section, pushed with :meth:`push`, off the top of the section stack."""
        current = h.cas() if _stack_nonempty() else None
        if not _pushed or _pushed[-1] is not self or current is None or not current.same(self):
            raise SectionAccessError(
                f"{self!r} is not on top of the section stack (as pushed with .push()), so "
                "it cannot be popped; pop sections in the reverse order they were pushed."
            )
        h.pop_section()
        _pushed.pop()

    # -- sugar -----------------------------------------------------------------------
    def record(self, x: float = 0.5) -> Vector:
        """Record the membrane potential at ``x`` into a Vector kept in ``recordings[x]``.

        Calling it again for the same ``x`` returns the same Vector.
        """
        x = float(x)
        existing = self.recordings.get(x)
        if existing is not None:
            return existing
        vector = Vector()
        vector.record(self(x))
        self.recordings[x] = vector
        return vector

    def synapse(self, factory: Any, x: float = 0.5, **attributes: Any) -> Any:
        """Place a point process made by ``factory`` (e.g. ``p.ExpSyn``) at ``x``.

        Keyword arguments set attributes of the new point process (``tau=2``).
        """
        return factory(self(x), **attributes)

    def connect_points(
        self, target: Any, x: float = 0.5, *, threshold: float | None = None,
        delay: float | None = None, weight: float | Sequence[float] | None = None,
    ) -> NetCon:
        """Make a NetCon from the voltage at ``x`` to the point process ``target``."""
        return NetCon(self(x), target, threshold=threshold, delay=delay, weight=weight)

    def iclamp(
        self, x: float = 0.5, *, amp: float | Iterable[float] = 0.0, delay: float = 0.0,
        duration: float | None = None,
    ) -> Any:
        """Inject current at ``x``: a constant ``amp`` for ``duration`` ms after ``delay``.

        With a sequence ``amp``, one value is played per time step (``h.dt`` at the time
        of the call) starting at ``delay``; ``duration`` defaults to the sequence length.
        """
        clamp = point_process_class("IClamp")(self(x))
        clamp.delay = delay
        if isinstance(amp, (int, float)):
            clamp.amp = amp
            clamp.dur = 100.0 if duration is None else duration
            return clamp
        values = Vector(list(amp))
        if values.size() == 0:
            raise ValueError("iclamp: amp is an empty sequence; give at least one value.")
        step = h.dt
        times = Vector(values.size())
        times.indgen(delay, step)
        clamp.dur = values.size() * step if duration is None else duration
        values.play(clamp._ref_amp, times, False)
        _refs.link(clamp, values)
        _refs.link(clamp, times)
        return clamp

    def vclamp(
        self, x: float = 0.5, *, voltage: float | Sequence[float] = -65.0,
        duration: float | Sequence[float] = 100.0, resistance: float | None = None,
    ) -> Any:
        """Clamp the voltage at ``x`` with an ``SEClamp``: up to three (voltage, duration) steps."""
        voltages = [voltage] if isinstance(voltage, (int, float)) else list(voltage)
        durations = [duration] if isinstance(duration, (int, float)) else list(duration)
        if not 1 <= len(voltages) <= 3 or len(voltages) != len(durations):
            raise ValueError(
                "vclamp: give one to three voltages and as many durations "
                f"(got {len(voltages)} voltages, {len(durations)} durations)."
            )
        clamp = point_process_class("SEClamp")(self(x))
        for i, (level, length) in enumerate(zip(voltages, durations), start=1):
            setattr(clamp, f"amp{i}", level)
            setattr(clamp, f"dur{i}", length)
        if resistance is not None:
            clamp.rs = resistance
        return clamp


def _stack_nonempty() -> bool:
    try:
        h.cas()
    except TypeError:
        return False
    return True


#: Sections pushed with Section.push() and not popped yet; also keeps them alive, as
#: NEURON's own stack does not.
_pushed: list[Section] = []


class _Pushed:
    """Returned by :meth:`Section.push`; pops the section when a ``with`` block ends."""

    __slots__ = ("section",)

    def __init__(self, section: Section) -> None:
        self.section = section

    def __enter__(self) -> Section:
        return self.section

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is None:
            self.section.pop()
        elif _pushed and _pushed[-1] is self.section:
            # Leave the stack as it was, without hiding the exception on its way out.
            h.pop_section()
            _pushed.pop()


class Vector(HocObject, hoc.Vector):
    """``h.Vector`` that records sections and segments (their ``_ref_v``) directly."""

    __slots__ = ("_refs", "__weakref__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._setup()

    def record(self, target: Any, *args: Any, **kwargs: Any) -> Vector:
        """Record ``target``: a section (its middle), a segment, or a NEURON pointer."""
        owner = None
        if issubclass(type(target), nrn.Section) or not issubclass(type(target), hoc.HocObject):
            if implements(target, "__record__"):
                target = target.__record__()
            target = transform(target)
            if issubclass(type(target), nrn.Section):
                check_alive(target)
                owner = target
                target = target(0.5)._ref_v
            elif issubclass(type(target), nrn.Segment):
                owner = target.sec
                check_alive(owner)
                target = target._ref_v
        if owner is None and "sec" in kwargs:
            owner = kwargs["sec"]
        try:
            self.baseattr("record")(target, *args, **kwargs)
        except (RuntimeError, TypeError) as error:
            if is_pointer(target):
                raise
            raise NotRecordableError(
                f"Cannot record {target!r}: give a Section, a Segment or a pointer such as "
                "seg._ref_v or h._ref_t."
            ) from error
        if owner is not None:
            _refs.link(self, owner)
        for arg in args:
            if issubclass(type(arg), hoc.HocObject):
                _refs.link(self, arg)
        return self

    def play(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        """``h.Vector.play`` that keeps its time Vector (and a played section) alive.

        A section or segment as ``target`` means its voltage, as in :meth:`record`.
        """
        owner = None
        if issubclass(type(target), nrn.Section) or issubclass(type(target), nrn.Segment):
            section, x = resolve_segment(target)
            check_alive(section)
            owner, target = section, section(x)._ref_v
        result = self.baseattr("play")(target, *args, **kwargs)
        if owner is not None:
            _refs.link(self, owner)
        for arg in args:
            if issubclass(type(arg), hoc.HocObject) and not is_pointer(arg):
                _refs.link(self, arg)
        return result


class NetCon(HocObject, hoc.NetCon):
    """``h.NetCon`` from a section, segment or cell to a point process.

    ``NetCon(source, target, threshold=None, delay=None, weight=None)``: a section or
    segment source means its ``_ref_v`` with the section put on the stack for NEURON.
    """

    _returned_by_neuron = True

    def _event_object(self) -> bool:
        return True

    __slots__ = ("_refs", "__weakref__")

    def __new__(cls, source: Any = None, target: Any = None, *args: Any, **kwargs: Any) -> NetCon:
        options = {k: kwargs.pop(k) for k in ("threshold", "delay", "weight") if k in kwargs}
        sec = kwargs.pop("sec", None)
        if kwargs:
            raise TypeError(f"NetCon got unexpected keyword arguments {sorted(kwargs)}.")
        source, source_section = _netcon_source(source)
        if sec is None:
            sec = source_section
        target = transform(target)
        if target is not None:
            mechanism = _mechanism_of(target)
            if mechanism is None or not mechanism.netcon_target:
                raise NotConnectableError(
                    f"A NetCon target must be a point process that receives events (ExpSyn, "
                    f"NetStim, a mod with NET_RECEIVE) or None, not {target!r}; place a "
                    "synapse first: section.synapse(p.ExpSyn)."
                )
        if sec is not None:
            check_alive(sec)
            self = hoc.NetCon.__new__(cls, source, target, *args, sec=sec)
        else:
            self = hoc.NetCon.__new__(cls, source, target, *args)
        self._setup(source_section, target)
        if target is not None and (
            type(target).__name__ if issubclass(type(target), PointProcess) else _hoc_name(target)
        ) == "NetStim":
            _netstim_inputs.add(self)
        if source_section is None and issubclass(type(source), hoc.HocObject):
            _refs.link(self, _refs.lookup(source))
        _configure(self, **options)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def syn(self) -> Any:
        """The target, as the same Python object that was connected."""
        return _refs.lookup(self.baseattr("syn")())

    def pre(self) -> Any:
        """The source point process or artificial cell, as the same Python object."""
        return _refs.lookup(self.baseattr("pre")())


#: NetCons that deliver to a NetStim (see check_netstim_inputs).
_netstim_inputs: weakref.WeakSet[Any] = weakref.WeakSet()


def check_netstim_inputs() -> None:
    """Refuse a NetStim with ``number < 1`` that a NetCon with positive weight drives.

    NEURON's NetStim answers such an event by scheduling one in the past, and NEURON
    aborts the process ("net_send td-t = ...").
    """
    for netcon in list(_netstim_inputs):
        target = netcon.syn()
        if target is not None and target.number < 1 and netcon.weight[0] > 0:
            raise SimulatorError(
                f"{target.hname()} has number={target.number:g} but {netcon.hname()} turns it "
                "on (weight > 0); NEURON would abort the process when the event arrives. "
                "Give the NetStim number >= 1, or a negative weight to turn it off."
            )


def _configure(netcon: Any, threshold: Any = None, delay: Any = None, weight: Any = None) -> None:
    if threshold is not None:
        netcon.threshold = threshold
    if delay is not None:
        if delay < 0:
            raise ValueError(f"NetCon delay must be >= 0, got {delay!r}.")
        netcon.delay = delay
    if weight is not None:
        weights = [weight] if isinstance(weight, (int, float)) else list(weight)
        if len(weights) > int(netcon.wcnt()):
            raise ValueError(
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
    if source is None or issubclass(type(source), PointProcess):
        return source, None
    if is_pointer(source) or is_point_process(source):
        return source, None
    raise NotConnectableError(
        f"Cannot use {source!r} as a NetCon source: give a Section, a Segment, a point process, "
        "an artificial cell such as NetStim, a pointer (seg._ref_v) or None."
    )


class PointProcess(HocObject):
    """Mixed into every point process class: a Section means its Segment 0.5.

    Keyword arguments other than ``sec`` set attributes: ``p.ExpSyn(s, tau=2)``.
    """

    __slots__ = ()
    _hoc_type: Any
    #: Artificial cells (NetStim, IntFire1, ...) live on no section.
    artificial: bool = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        sec = kwargs.pop("sec", None)
        if not cls.artificial:
            args, sec = _place(cls.__name__, args, sec)
        kw: dict[str, Any] = {"hocbase": cls._hoc_type}
        if sec is not None:
            kw["sec"] = sec
        self = hoc.HocObject.__new__(cls, *args, **kw)
        if cls.artificial:
            self._setup()
        elif issubclass(type(args[0]), nrn.Segment):
            self._setup(args[0].sec)
        else:
            self._setup(self.get_segment().sec)
        if kwargs:
            known = cls._attributes()
            for name, value in kwargs.items():
                if name not in known:
                    raise AttributeError(
                        f"{cls.__name__} has no attribute {name!r}; it has {sorted(known)}."
                    )
                setattr(self, name, value)
        return self

    def loc(self, *args: Any, sec: Any = None) -> Any:
        """Move to a segment (a Section means its middle); the new section is kept alive
        instead of the old one."""
        previous = self.get_segment().sec if self.has_loc() else None
        args, sec = _place(type(self).__name__, args, sec)
        result = self.baseattr("loc")(*args, **({} if sec is None else {"sec": sec}))
        if previous is not None:
            _refs.unlink(self, previous)
        if self.has_loc():
            _refs.link(self, self.get_segment().sec)
        return result

    def _event_object(self) -> bool:
        return self._mechanism.netcon_target

    def __setattr__(self, name: str, value: Any) -> None:
        # NEURON's subclass attribute rule would keep `pp._ref_p = x` as a Python
        # attribute and leave the mechanism's POINTER unset; hand it to NEURON instead.
        if name.startswith("_ref_"):
            _set_pointer(self, name[5:], value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def _attributes(cls) -> frozenset[str]:
        return frozenset(n for n in dir(cls._hoc_type) if not n.startswith("_"))


def pointer_names(name: str) -> tuple[str, ...]:
    """The POINTER variables of the point process ``name``, as its mod file declares them.

    NEURON does not tell a POINTER (read in every time step) from a BBCOREPOINTER or a
    RANDOM variable (used only when the model asks), so they are read from the ``.mod``
    sources beside each loaded mechanism library. NEURON's own point processes have none.
    """
    found = _declared_pointers()
    return found.get(name, ())


#: Folders whose .mod files were compiled into a loaded library; NEURON itself loads the
#: one of the working directory at start-up.
_mod_folders: list[Path] = [Path.cwd()]
_pointer_table: dict[str, tuple[str, ...]] = {}
_read_folders: set[Path] = set()
_COMMENTS = re.compile(r"COMMENT.*?ENDCOMMENT|:[^\n]*|\?[^\n]*", re.DOTALL)
_NEURON_BLOCK = re.compile(r"\bNEURON\s*\{([^}]*)\}")
_PROCESS_NAME = re.compile(r"\b(?:POINT_PROCESS|ARTIFICIAL_CELL)\s+(\w+)")
_POINTERS = re.compile(r"\bPOINTER\b([\w \t,]*)")


def add_mod_folder(library: str) -> None:
    """Remember the mod folder a library was compiled from (``<folder>/<arch>/lib...``)."""
    folder = Path(library).resolve().parent.parent
    if folder not in _mod_folders:
        _mod_folders.append(folder)


def _declared_pointers() -> dict[str, tuple[str, ...]]:
    for folder in _mod_folders:
        if folder in _read_folders:
            continue
        _read_folders.add(folder)
        for source in sorted(folder.glob("*.mod")):
            try:
                text = _COMMENTS.sub("", source.read_text(errors="replace"))
            except OSError:
                continue
            block = _NEURON_BLOCK.search(text)
            process = _PROCESS_NAME.search(block.group(1)) if block else None
            if process is None:
                continue
            names = [n for m in _POINTERS.finditer(block.group(1)) for n in re.findall(r"\w+", m.group(1))]
            _pointer_table.setdefault(process.group(1), tuple(names))
    return _pointer_table


def _set_pointer(process: Any, name: str, value: Any) -> None:
    kind = type(process).__name__
    if not is_pointer(value):
        raise TypeError(
            f"{kind}._ref_{name} must be set to a NEURON reference such as seg._ref_v or "
            f"other._ref_x, not {value!r}."
        )
    try:
        h.setpointer(value, name, process)
    except (TypeError, RuntimeError, LookupError) as error:
        raise AttributeError(
            f"{kind}._ref_{name}: only a POINTER variable of the mechanism can be assigned "
            f"a reference, and {name!r} is not one ({error})."
        ) from None


def check_pointers() -> None:
    """Refuse a run in which a point process has a POINTER that was never set.

    NEURON would read through a null pointer and crash the process.
    """
    for name, pointers in _declared_pointers().items():
        if not pointers or name not in point_processes():
            continue
        instances = h.List(name)
        for i in range(int(instances.count())):
            process = instances.o(i)
            for pointer in pointers:
                try:
                    getattr(process, pointer)
                except ValueError:
                    raise SimulatorError(
                        f"{process.hname()}.{pointer} is a POINTER that was never set, and "
                        "NEURON would crash reading it during the run. Set it first: "
                        f"process._ref_{pointer} = seg._ref_v (or another variable's "
                        "reference), or h.setpointer(ref, name, process)."
                    ) from None


def _place(what: str, args: tuple[Any, ...], sec: Any) -> tuple[tuple[Any, ...], Any]:
    """Check where a point process goes; a Section means its middle segment."""
    if sec is not None:
        sec = transform(sec)
        if not issubclass(type(sec), nrn.Section):
            raise TypeError(f"{what}: sec= must be a Section, not {type(sec).__name__}.")
        check_alive(sec)
    if args:
        first = args[0]
        if issubclass(type(first), nrn.Segment):
            resolve_segment(first)  # a segment of a deleted section raises here
            return args, sec
        if not implements(first, "__arc__"):
            first = transform(first)
        if implements(first, "__arc__") or issubclass(type(first), (nrn.Section, nrn.Segment)):
            section, x = resolve_segment(first)
            check_alive(section)
            return (section(x),) + args[1:], sec
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            if not 0.0 <= first <= 1.0:
                raise SegmentPositionError(f"{what}: position {first!r} is outside [0, 1].")
        else:
            raise TypeError(
                f"{what} must be placed on a Section or a Segment (or a position with "
                f"sec=), not {type(first).__name__}."
            )
    else:
        args = (0.5,)
    if sec is None:
        _require_section_stack(what)
    return args, sec


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


def _require_section_stack(what: str) -> None:
    if not _stack_nonempty():
        raise SectionAccessError(
            f"{what} needs a section: pass one, p.{what}(section), "
            "or push one first (with section.push(): ...)."
        )


_point_process_classes: dict[str, type] = {}


def point_process_class(name: str) -> type:
    """The Patch class for the point process ``name`` (built-in or from a mod file)."""
    cls = _point_process_classes.get(name)
    if cls is None:
        mechanism = point_processes()[name]
        namespace = {
            "__slots__": ("_refs",),
            "__module__": __name__,
            "__qualname__": name,
            "artificial": mechanism.artificial,
            "_mechanism": mechanism,
            "_returned_by_neuron": True,
        }
        cls = type(name, (PointProcess, HocBaseObject), namespace, hoc_type=getattr(h, name))
        _point_process_classes[name] = cls
    return cls




class SectionRef(HocObject, hoc.SectionRef):
    """``h.SectionRef`` that takes the section positionally or as ``sec=``."""

    __slots__ = ("_refs", "__weakref__")

    def __new__(cls, section: Any = None, *, sec: Any = None) -> SectionRef:
        if section is not None and sec is not None:
            raise TypeError("SectionRef takes the section once: SectionRef(s) or SectionRef(sec=s).")
        section = transform(section if section is not None else sec)
        if section is None:
            _require_section_stack("SectionRef")
            section = h.cas()
        if not issubclass(type(section), nrn.Section):
            raise TypeError(f"SectionRef needs a Section, not {type(section).__name__}.")
        check_alive(section)
        self = hoc.SectionRef.__new__(cls, sec=section)
        self._setup(section)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


_generic_classes: dict[type, type] = {}


def hoc_class(base: type) -> type:
    """The Patch subclass of a hoc class such as ``h.List`` or ``h.Random``."""
    special = {hoc.Vector: Vector, hoc.NetCon: NetCon, hoc.SectionRef: SectionRef}
    if base in special:
        return special[base]
    cls = _generic_classes.get(base)
    if cls is None:
        name = base.__name__
        cls = type(
            name,
            (_GenericHocObject, base),
            {"__slots__": ("_refs", "__weakref__"), "__module__": __name__, "__qualname__": name},
        )
        _generic_classes[base] = cls
    return cls


class _GenericHocObject(HocObject):
    """A hoc class instance that keeps the Patch objects it was made from alive."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._setup(*(arg for arg in args if issubclass(type(arg), (Section, HocObject))))
