"""``p``: a drop-in replacement for ``neuron.h`` that hands out Patch objects."""

from __future__ import annotations

import functools
import importlib
import os
import warnings
from pathlib import Path
from typing import Any

from . import _display, _graph, _mechanisms, _netcon, _run, _simulation, _vector
from ._boot import coreneuron, h, hoc
from ._hoc import HocObject, wrappers
from ._netcon import NetCon, netcon_targets_on
from ._parallel import ParallelContext, context, parallel_con
from ._point_process import point_process_class
from ._public import public_names
from ._section import Section, SectionRef
from ._transform import check_alive, transform
from ._vector import Vector
from .exceptions import (
    ArgumentError,
    DeletedSectionError,
    HocError,
    ParallelConnectError,
    ReloadWarning,
    SectionAccessError,
    SimulatorError,
)


class HocFunction:
    """A hoc function or template reached through ``p``: unwraps arguments, maps results."""

    __slots__ = ("_name", "_function")

    def __init__(self, name: str, function: Any) -> None:
        self._name = name
        self._function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args = tuple(transform(arg) for arg in args)
        try:
            result = self._function(*args, **kwargs)
        except RuntimeError as error:
            if type(error) is RuntimeError and "hoc" in str(error):
                raise HocError(f"p.{self._name}{args!r} failed in NEURON: {error}") from error
            raise
        if issubclass(type(result), hoc.HocObject):
            return _graph.lookup(result)
        return result

    def __repr__(self) -> str:
        return f"<hoc function p.{self._name}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._function, name)


# The variables of NEURON's run system (stdrun.hoc): setting one before the first run
# would otherwise fail ("not a defined hoc variable"), as the run system loads then.
_RUN_SYSTEM_VARIABLES = frozenset({"v_init", "tstop", "steps_per_ms", "realtime", "stoprun"})
_CHECKED_ON_SET = _RUN_SYSTEM_VARIABLES | {"dt"}

# NEURON's built-in globals live at fixed addresses for the life of the process (unlike
# hoc's own variables, such as tstop, whose storage moves as hoc defines more names), so
# a pointer to each reads and writes them exactly as h.t and h.t = x do, without
# looking their names up. dt is read this way, and written through the check above.
_t, _dt, _celsius = h._ref_t, h._ref_dt, h._ref_celsius
_GLOBALS = {"t": _t, "celsius": _celsius}


# What ``h.name_declared`` answers for the name of a section made by hoc's ``create``.
_SECTION_NAME = 3


def _refuse_deleted_section(name: str) -> None:
    """Raise for a hoc section ``name`` that was deleted: NEURON aborts the process when
    the name of a deleted section is looked up. (Of an array, only a lookup of its name
    whose every element is deleted is refused; its live elements stay reachable.)"""
    prefix = f"{name}["
    if any(section.hname().startswith(prefix) for section in h.allsec()):
        return
    raise DeletedSectionError(
        f"p.{name}: the hoc section {name} was deleted (delete_section), and NEURON would "
        "abort on its name. Create it again in hoc, or keep a Python reference to a "
        "Section instead of its hoc name."
    )


class PythonHocInterpreter:
    """Everything of ``neuron.h``, plus Patch's sugar; get it as ``from patch import p``.

    Attributes that NEURON owns (``dt``, ``t``, ``celsius``, mechanisms' globals, hoc
    variables) read and write straight through to ``h``. Classes give Patch objects.
    The run system (``run``, ``continuerun``, ``finitialize``, ...) is NEURON's, with
    checks that refuse what would crash NEURON, and the parallel set-up under MPI.
    """

    Section = Section
    Vector = Vector
    NetCon = NetCon
    SectionRef = SectionRef

    # -- attribute access ----------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if h.name_declared(name) == _SECTION_NAME and not h.section_exists(name):
            _refuse_deleted_section(name)
        try:
            attribute = getattr(h, name)
        except LookupError:
            if name not in _RUN_SYSTEM_VARIABLES:
                raise
            _run.load_stdrun()  # they exist once the run system is loaded, as p.run() does
            attribute = getattr(h, name)
        kind = type(attribute)
        if kind is float:
            # A hoc variable: later reads go straight to h through a property, instead of
            # failing Python's look-up first (hoc names keep their kind once declared).
            setattr(type(self), name, property(functools.partial(getattr, h, name)))
            return attribute
        if not isinstance(attribute, (type, hoc.HocObject)):
            return attribute  # a string or an integer: no table to consult
        if isinstance(attribute, type) and issubclass(attribute, hoc.HocObject):
            wrapped: Any = hoc_class(attribute)
        elif name in _mechanisms.point_processes():
            wrapped = point_process_class(name)
        elif type(attribute) is hoc.HocObject and repr(attribute) == f"{name}()":
            # A hoc function or template; arrays ("x[?]") and objrefs ("T[0]") are data.
            wrapped = HocFunction(name, attribute)
        else:
            return attribute
        # Classes and functions never change: later reads find them in the instance's
        # dictionary, without calling __getattr__ (whose way in costs an AttributeError).
        self.__dict__[name] = wrapped
        return wrapped

    def __setattr__(self, name: str, value: Any) -> None:
        kind = type(value)
        if kind is float or kind is int:
            pointer = _GLOBALS.get(name)
            if pointer is not None:
                pointer[0] = value
                return
        if name in _CHECKED_ON_SET:
            if name == "dt":
                _simulation.check_step(value)
            else:
                _run.load_stdrun()
        setattr(h, name, value)

    # NEURON's own globals, read through pointers (see _GLOBALS): no look-up by name.
    t = property(lambda self: _t[0], doc="NEURON's time (ms), ``h.t``.")
    dt = property(lambda self: _dt[0], doc="NEURON's time step (ms), ``h.dt``.")
    celsius = property(lambda self: _celsius[0], doc="The temperature (degC), ``h.celsius``.")

    def __dir__(self) -> list[str]:
        return sorted(set(dir(h)) | set(dir(type(self))))

    def __repr__(self) -> str:
        return "<patch interpreter over neuron.h>"

    def __call__(self, statement: str) -> int:
        """Execute a hoc statement; a ``HocError`` when hoc rejects it."""
        try:
            result = h(statement)
        except RuntimeError as error:
            raise HocError(f"hoc statement {statement!r} failed: {error}") from error
        if not result:
            raise HocError(f"hoc statement {statement!r} failed (see NEURON's message above).")
        return int(result)

    def __neuron__(self) -> Any:
        return h

    @property
    def coreneuron(self) -> Any:
        """NEURON's CoreNEURON switch (``neuron.coreneuron``): with ``p.coreneuron.enable =
        True``, ``p.run()`` simulates with CoreNEURON (through ``psolve``)."""
        return coreneuron

    # -- sections --------------------------------------------------------------------
    def cas(self) -> Any:
        """The currently accessed section; a ``SectionAccessError`` when there is none."""
        try:
            return h.cas()
        except TypeError as error:
            raise SectionAccessError(
                "No section is on the section stack: create one, or push one with section.push()."
            ) from error

    def allsec(self) -> Any:
        """An iterator over every section in NEURON, as ``h.allsec()`` (Patch sections
        come back as the objects you created)."""
        return h.allsec()

    def delete_section(self, *args: Any, sec: Any = None) -> None:
        """``h.delete_section``, refused while a NetCon still targets a synapse on it."""
        section = transform(sec) if sec is not None else self.cas()
        if args:
            raise ArgumentError(
                "delete_section takes the section as sec=: p.delete_section(sec=s)."
            )
        check_alive(section)
        targets = netcon_targets_on(section)
        if targets:
            raise SimulatorError(
                f"Cannot delete {section.name()}: NetCons still deliver to {targets} on it, "
                "and NEURON would crash at the next finitialize. Drop your references to "
                "the section and let Patch free it with everything connected to it, or "
                "delete those NetCons first."
            )
        _graph.release(section)
        h.delete_section(sec=section)

    # -- the run system ------------------------------------------------------------------
    @property
    def time(self) -> _vector.Vector:
        """A Vector of the time points of the last run through ``p`` (it records ``t``)."""
        return _run.time_vector()

    def load_stdrun(self) -> None:
        """Load ``stdrun.hoc`` once (``run``, ``continuerun``, ``tstop``, ``v_init``)."""
        _run.load_stdrun()

    def finitialize(self, *args: Any) -> Any:
        """``h.finitialize`` after Patch's checks and the parallel set-up NEURON needs."""
        return _run.finitialize(*args)

    def stdinit(self) -> None:
        """The run system's ``stdinit()``: ``setdt()``, then the (possibly user-defined)
        ``init()``, after Patch's checks and parallel set-up."""
        _run.stdinit()

    def init(self) -> None:
        """The run system's ``init()`` (yours, if the model redefines it), after the set-up."""
        _run.init()

    def run(self, duration: float | None = None) -> None:
        """NEURON's ``run()``: initialise and simulate until ``tstop``.

        ``p.run(duration)`` is ``p.tstop = duration; p.run()``. Serially this is the hoc
        run system itself, so a model's own ``init()``, ``advance()`` or ``run()``, its
        ``FInitializeHandler``s and ``setdt()`` behave exactly as with ``h.run()``.
        Across ranks it is ``stdinit()`` followed by ``ParallelContext.psolve(tstop)``,
        the only way spikes cross ranks (a hoc ``advance()`` is then not called per step).
        """
        _run.run(duration)

    def continuerun(self, until: float) -> None:
        """Continue the simulation up to time ``until`` without re-initialising."""
        _run.continuerun(until)

    #: ``p.fadvance()``: advance one time step (``h.fadvance``), refused where NEURON would
    #: crash or hang. The function itself, not a method: loops call it once per step.
    fadvance = staticmethod(_run.fadvance)

    def check_can_continue(self) -> None:
        """Raise where continuing the simulation would make NEURON hang or crash."""
        _simulation.check_can_continue()

    # -- parallel --------------------------------------------------------------------
    @functools.cached_property
    def parallel(self) -> ParallelContext:
        """The one ParallelContext of this process (``.rank``, ``.size``, ``.broadcast``).

        Made on first use and kept in ``p``'s dictionary: later reads cost a look-up."""
        return context()

    def ParallelContext(self) -> ParallelContext:
        """The one ParallelContext (the same object as ``p.parallel``)."""
        return context()

    def ParallelCon(
        self,
        first: Any,
        second: Any,
        *positional: Any,
        weight: float | None = None,
        delay: float | None = None,
        threshold: float | None = None,
    ) -> _netcon.NetCon:
        """Transmit ``ParallelCon(obj, gid)`` or receive ``ParallelCon(gid, target)`` spikes."""
        if positional:
            # nrn-patch 8 read ParallelCon(a, b, output, *netcon_args): guessing what the
            # numbers meant would change them silently.
            raise ParallelConnectError(
                f"ParallelCon takes weight, delay and threshold as keywords only, got "
                f"{len(positional)} more positional argument(s) {positional!r}. In nrn-patch "
                "8 the third was `output` and the ones after it went to NetCon as its "
                "threshold, delay and weight, so ParallelCon(gid, syn, 5, 1) did not mean "
                "weight 5, delay 1: write ParallelCon(gid, target, weight=..., delay=...) "
                "with the numbers you mean."
            )
        return parallel_con(first, second, weight=weight, delay=delay, threshold=threshold)

    # -- files -----------------------------------------------------------------------
    def nrn_load_dll(self, path: str) -> Any:
        """Load compiled mechanisms; their point processes become Patch classes too."""
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No compiled mechanism library at {path!r}; run nrnivmodl on your .mod "
                "folder and pass the path of the library it builds."
            )
        result = h.nrn_load_dll(path)
        # nrnivmodl builds <mod folder>/<arch>/libnrnmech.so
        _mechanisms.add_mod_folder(Path(path).resolve().parent.parent)
        return result

    def load_file(self, *args: Any) -> Any:
        """``h.load_file`` that raises when the file does not exist or fails to load.

        Loading one of your files a second time runs none of its code (hoc loads a file
        once per process): that says so with a ``ReloadWarning``, as results read
        afterwards would be those of the first load.
        """
        name = next((arg for arg in args if isinstance(arg, str)), None)
        forced = bool(args) and not isinstance(args[0], str) and bool(args[0])
        if name is not None and not forced and len(args) == 1 and os.path.isfile(name):
            path = os.path.realpath(name)
            if path.startswith(_neuron_library()):
                pass  # NEURON's own hoc files (stdrun.hoc, ...) are loaded once on purpose
            elif path in _loaded_files:
                warnings.warn(
                    ReloadWarning(
                        f"p.load_file({name!r}) ran no code: {path} was loaded before in this "
                        "process, and hoc loads a file once. Whatever it computes or runs "
                        "(a protocol, a simulation) did not happen again, so what you read "
                        "now is left over from before (or reset since). Force a reload with "
                        f"p.load_file(1, {name!r}) where the model allows it, or run each "
                        "such test on a fresh NEURON: @pytest.mark.nrn_isolated, or "
                        "nrn_isolate = test in pytest.ini, with pytest-patch."
                    ),
                    stacklevel=2,
                )
            _loaded_files.add(path)
        try:
            result = h.load_file(*args)
        except RuntimeError as error:
            raise HocError(f"p.load_file could not load {name!r}: {error}") from error
        if not result:
            raise HocError(f"p.load_file could not load {name!r}: check the path and hoc syntax.")
        if name == "stdrun.hoc":
            _run.stdrun_loaded()
        return result


#: Your hoc files (found from the working directory) loaded through ``p.load_file``.
_loaded_files: set[str] = set()


@functools.cache
def _neuron_library() -> str:
    """NEURON's folder of hoc files, ending in a separator."""
    return os.path.realpath(os.path.join(h.neuronhome(), "lib", "hoc")) + os.sep


def hoc_class(base: type) -> type:
    """The Patch class ``p.<Name>`` gives for a hoc class such as ``h.List`` or ``h.Random``:
    its wrapper (``_hoc.wrappers``), or a generic one made the first time."""
    cls = wrappers.get(base)
    module = public_names().get(base.__name__) if cls is None else None
    if module is not None:
        # A wrapper of Patch's not imported yet: its module enters it in wrappers.
        importlib.import_module(f"{__package__}.{module}")
        cls = wrappers.get(base)
    if cls is None:
        name = base.__name__
        cls = type(
            name,
            (_Graph if name == "Graph" else _GenericHocObject, base),
            {"__slots__": ("_refs", "__weakref__"), "__module__": "patch", "__qualname__": name},
        )
        _graph.register_class(cls)  # the new class entered itself in wrappers
    return cls


class _GenericHocObject(HocObject):
    """A hoc class instance that keeps the Patch objects it was made from alive."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._setup(*(arg for arg in args if issubclass(type(arg), (Section, HocObject))))


class _Graph(_GenericHocObject):
    """``p.Graph``: reading its lines without a display is an error, not a crash."""

    __slots__ = ()

    def getline(self, *args: Any) -> Any:
        _display.require_display("Graph.getline")
        return self.baseattr("getline")(*args)


p = PythonHocInterpreter()
