"""Point processes and artificial cells: one Patch class per mechanism, made on first use."""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from . import _graph
from ._boot import HocBaseObject, h, hoc, nrn
from ._hoc import (
    Attributes,
    HocObject,
    compiled_attributes,
    hoc_setattr,
    plain_view,
)
from ._mechanisms import Mechanism, point_processes, scalar_variables
from ._stack import require_section
from ._transform import check_alive, implements, is_pointer, resolve_segment, transform
from ._validate import as_double, is_number
from .exceptions import ArgumentError, SegmentPositionError, UnknownAttributeError


@compiled_attributes
class PointProcess(Attributes, HocObject):
    """Mixed into every point process class: a Section means its Segment 0.5.

    Keyword arguments other than ``sec`` set attributes: ``p.ExpSyn(s, tau=2)``.
    """

    __slots__ = ()
    _hoc_type: Any
    #: The names NEURON knows for this mechanism (set for each class when it is made).
    _known: ClassVar[frozenset[str]] = frozenset()
    #: The mechanism's scalar variables. With the compiled module (``_hoc.COMPILED``): the
    #: names it sets (to a number) and reads (when the class has no attribute of that
    #: name) on the plain view itself; every other name and value goes to the Python code.
    _fast_set: ClassVar[frozenset[str]] = frozenset()
    _fast_get: ClassVar[frozenset[str]] = frozenset()
    _mechanism: Mechanism
    #: The slot that holds a plain view of the NEURON object (see ``_hoc.plain_view``),
    #: made on the first attribute set; each class has its own.
    _plain: Any
    _plain_view: Any
    _read_plain: Any  # _plain.__get__
    get_segment: Any  # NEURON's methods, from the hoc class
    has_loc: Any
    #: Artificial cells (NetStim, IntFire1, ...) live on no section.
    artificial: bool = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:  # p.ExpSyn(segment) and p.NetStim(): no _place, no keyword dicts
            if cls.artificial:
                if not args:
                    self = _hoc_new(cls, hocbase=cls._hoc_type)
                    cls._plain.__set__(self, None)
                    _track(self, None)
                    return self
            elif len(args) == 1:
                where = args[0]
                kind = type(where)
                if kind is _Segment:
                    segment = where
                    # resolve_segment's checks, inline: a deleted section, or s(nan)
                    # (NEURON makes that segment, and crashes on a point process there).
                    # sec and x are read through the Segment type's own descriptors:
                    # `segment.sec` first looks the name up among range variables, which
                    # costs more than the rest of these checks together.
                    section = _segment_sec(segment)
                    try:
                        _is_pysec(section)  # NEURON's check: ReferenceError if deleted
                    except ReferenceError:
                        resolve_segment(segment)  # raises DeletedSectionError
                        raise
                    x = _segment_x(segment)
                    if not 0.0 <= x <= 1.0:
                        raise SegmentPositionError(
                            f"Position {x!r} is outside the section; use [0, 1]."
                        )
                elif issubclass(kind, nrn.Section):
                    # A Section means its middle: p.ExpSyn(s) is h.ExpSyn(s(0.5)).
                    section = where
                    try:
                        segment = section(0.5)
                    except ReferenceError:
                        check_alive(section)  # raises DeletedSectionError
                        raise
                else:
                    return _new(cls, args, kwargs)
                self = _hoc_new(cls, segment, hocbase=cls._hoc_type)
                cls._plain.__set__(self, None)
                _track(self, section)
                return self
        return _new(cls, args, kwargs)

    def loc(self, *args: Any, sec: Any = None) -> Any:
        """Move to a segment (a Section means its middle); the new section is kept alive
        instead of the old one."""
        previous = self.get_segment().sec if self.has_loc() else None
        args, sec = _place(type(self).__name__, args, sec)
        result = self.baseattr("loc")(*args, **({} if sec is None else {"sec": sec}))
        _graph.move(self, previous, self.get_segment().sec if self.has_loc() else None)
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ArgumentError(
            f"{self.hname()} is a point process, not a section: it cannot be called. "
            "pp.get_segment() gives its segment; pp.loc(section(x)) moves it."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        # NEURON's rule for subclasses keeps an attribute it does not know as a Python
        # attribute: `pp._ref_p = x` would leave the POINTER unset, and a misspelled
        # `clamp.duration = 10` would change nothing. Raw NEURON refuses both; so does Patch.
        # The class's names and the slot are read through the class: `self._known` and
        # `self._plain_view` go through NEURON's attribute look-up first, which costs more
        # than the set itself.
        cls = type(self)
        if name in cls._known:
            plain = cls._read_plain(self)
            if plain is None:
                plain = plain_view(self)
                cls._plain.__set__(self, plain)
            try:
                # A scalar variable: a value NEURON would refuse is refused here (see
                # as_double: NEURON's refusals wear out its stack).
                setattr(plain, name, as_double(value) if name in cls._fast_set else value)
            except TypeError as error:
                raise ArgumentError(
                    f"{type(self).__name__}.{name} = {value!r}: {error}. NEURON's variables "
                    "of a point process take numbers."
                ) from None
        elif name.startswith("_ref_"):
            _set_pointer(self, name[5:], value)
        elif name.startswith("_"):
            hoc_setattr(self, name, value)
        else:
            known = sorted(self._attributes() - _METHODS)
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownAttributeError(
                f"{type(self).__name__} has no attribute {name!r}, so NEURON would not see "
                f"it.{hint} Its variables are {known}."
            )

    @classmethod
    def _attributes(cls) -> frozenset[str]:
        return cls._known

    def __getattr__(self, name: str) -> Any:
        # Reached only for a name NEURON does not know (nrn-patch 8's `clamp.amplitude`,
        # a misspelling): say which variables the point process has.
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        known = sorted(self._attributes() - _METHODS)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownAttributeError(
            f"{type(self).__name__} has no attribute {name!r}.{hint} Its variables are {known}."
        )


def _new(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A point process of ``cls`` made in any way other than the two common ones."""
    sec = kwargs.pop("sec", None)
    if not cls.artificial:
        args, sec = _place(cls.__name__, args, sec)
    kw: dict[str, Any] = {"hocbase": cls._hoc_type}
    if sec is not None:
        kw["sec"] = sec
    self = hoc.HocObject.__new__(cls, *args, **kw)
    cls._plain.__set__(self, None)
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
                raise UnknownAttributeError(
                    f"{cls.__name__} has no attribute {name!r}; its variables are "
                    f"{sorted(known - _METHODS)}."
                )
            setattr(self, name, value)
    return self


#: Methods every point process has (not variables to set).
_METHODS = frozenset(
    {"baseattr", "get_loc", "get_segment", "has_loc", "hname", "hocobjptr", "loc", "same"}
)


_hoc_new = hoc.HocObject.__new__
_track = _graph.track_returned
_Segment = nrn.Segment
_segment_sec = nrn.Segment.__dict__["sec"].__get__
_segment_x = nrn.Segment.__dict__["x"].__get__
_is_pysec = nrn.Section.is_pysec


def _set_pointer(process: Any, name: str, value: Any) -> None:
    kind = type(process).__name__
    if not is_pointer(value):
        raise ArgumentError(
            f"{kind}._ref_{name} must be set to a NEURON reference such as seg._ref_v or "
            f"other._ref_x, not {value!r}."
        )
    try:
        h.setpointer(value, name, process)
    except (TypeError, RuntimeError, LookupError) as error:
        raise UnknownAttributeError(
            f"{kind}._ref_{name}: only a POINTER variable of the mechanism can be assigned "
            f"a reference, and {name!r} is not one ({error})."
        ) from None


def _place(what: str, args: tuple[Any, ...], sec: Any) -> tuple[tuple[Any, ...], Any]:
    """Check where a point process goes; a Section means its middle segment."""
    if sec is not None:
        sec = transform(sec)
        if not issubclass(type(sec), nrn.Section):
            raise ArgumentError(f"{what}: sec= must be a Section, not {type(sec).__name__}.")
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
        if is_number(first):
            if not 0.0 <= first <= 1.0:
                raise SegmentPositionError(f"{what}: position {first!r} is outside [0, 1].")
        else:
            raise ArgumentError(
                f"{what} must be placed on a Section or a Segment (or a position with "
                f"sec=), not {type(first).__name__}."
            )
    else:
        args = (0.5,)
    if sec is None:
        require_section(what)
    return args, sec


_classes: dict[str, type] = {}


def point_process_class(name: str) -> type:
    """The Patch class for the point process ``name`` (built-in or from a mod file)."""
    cls = _classes.get(name)
    if cls is None:
        mechanism = point_processes()[name]
        namespace = {
            "__slots__": ("_refs", "_refs2", "_plain_view"),
            "__module__": "patch",
            "__qualname__": name,
            "artificial": mechanism.artificial,
            "_mechanism": mechanism,
            "_known": frozenset(n for n in dir(getattr(h, name)) if not n.startswith("_")),
        }
        made: Any = type(name, (PointProcess, HocBaseObject), namespace, hoc_type=getattr(h, name))
        made._plain = made.__dict__["_plain_view"]
        made._fast_set = made._fast_get = scalar_variables(name) & made._known
        made._read_plain = made._plain.__get__
        # NEURON hands point processes back (nc.syn()); its event queue may point at a
        # NetCon target.
        _graph.register_class(made, handed_back=True, event_object=mechanism.netcon_target)
        _classes[name] = cls = made
    return cls
