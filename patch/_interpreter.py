"""``p``: a drop-in replacement for ``neuron.h`` that hands out Patch objects."""

from __future__ import annotations

import math
import os
from typing import Any

from . import _mpi

# MPI must be set up before NEURON loads; graphics off unless there is a display to use.
if "DISPLAY" not in os.environ:
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
_world = _mpi.start_world() if _mpi.wanted() else None

from neuron import nrn  # noqa: E402
from neuron import h, hoc  # noqa: E402

from . import _objects, _refs  # noqa: E402
from ._transform import transform  # noqa: E402
from .exceptions import HocError, MPIConfigurationError, SimulatorError  # noqa: E402


def _start_neuron_mpi() -> None:
    """Join NEURON to the world mpi4py started, and check that they agree."""
    if _world is None and not _mpi.launched_by_mpi():
        return
    expected = _world.Get_size() if _world is not None else _mpi.launcher_size()
    said = ""
    context = h.ParallelContext()
    if context.nhost() == 1 and (expected is None or expected > 1):
        # NEURON was imported before Patch: it has no world yet, so join mpi4py's. A
        # second MPI library in the process would make NEURON start another one.
        library = _mpi.single_library() if _world is not None else None
        if library is not None:
            _mpi.share(library)
        _, said = _mpi.quietly(h.nrnmpi_init)
        context = h.ParallelContext()
    size, rank = int(context.nhost()), int(context.id())
    mpi_rank = _world.Get_rank() if _world is not None else None
    if (expected is not None and size != expected) or (mpi_rank is not None and rank != mpi_rank):
        raise MPIConfigurationError(_mpi.mismatch_message(size, rank, expected, mpi_rank, said))
    if size > 1:
        # Under MPI, NEURON answers any hoc error with MPI_Abort (exit 255 on every rank,
        # no traceback); make it the Python exception it is in a serial run.
        context.mpiabort_on_error(0)


_start_neuron_mpi()


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
            return _refs.lookup(result)
        return result

    def __repr__(self) -> str:
        return f"<hoc function p.{self._name}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._function, name)


class PythonHocInterpreter:
    """Everything of ``neuron.h``, plus Patch's sugar; get it as ``from patch import p``.

    Attributes that NEURON owns (``dt``, ``t``, ``celsius``, mechanisms' globals, hoc
    variables) read and write straight through to ``h``. Classes give Patch objects.
    """

    Section = _objects.Section
    Vector = _objects.Vector
    NetCon = _objects.NetCon
    SectionRef = _objects.SectionRef

    def __init__(self) -> None:
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_time", None)
        object.__setattr__(self, "_stdrun", False)

    # -- attribute access ----------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        cache = self.__dict__["_cache"]
        try:
            return cache[name]
        except KeyError:
            pass
        attribute = getattr(h, name)
        if isinstance(attribute, type) and issubclass(attribute, hoc.HocObject):
            wrapped: Any = _objects.hoc_class(attribute)
        elif name in _objects.point_processes():
            wrapped = _objects.point_process_class(name)
        elif type(attribute) is hoc.HocObject and repr(attribute) == f"{name}()":
            # A hoc function or template; arrays ("x[?]") and objrefs ("T[0]") are data.
            wrapped = HocFunction(name, attribute)
        else:
            return attribute
        cache[name] = wrapped
        return wrapped

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "dt":
            _check_step(value)
        setattr(h, name, value)

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
        return result

    def __neuron__(self) -> Any:
        return h

    # -- sections --------------------------------------------------------------------
    def cas(self) -> Any:
        """The currently accessed section; a ``SectionAccessError`` when there is none."""
        try:
            return h.cas()
        except TypeError as error:
            raise _objects.SectionAccessError(
                "No section is on the section stack: create one, or push one with "
                "section.push()."
            ) from error

    def allsec(self) -> list[Any]:
        """Every section in NEURON (Patch sections are the objects you created)."""
        return list(h.allsec())

    # -- simulation control --------------------------------------------------------------
    @property
    def time(self) -> Any:
        """A Vector of the time points of the last run through ``p`` (it records ``t``)."""
        vector = self.__dict__["_time"]
        if vector is None:
            vector = _objects.Vector()
            object.__setattr__(self, "_time", vector)
            self._ensure_time()
        return vector

    def _ensure_time(self) -> None:
        # NEURON ties a recording of t to the section accessed when it started and drops
        # it when that section is deleted, so the recording is renewed before every run,
        # on any live section (a model without sections has no time to record).
        for section in h.allsec():
            # NEURON's own record: the time Vector must not keep the section alive.
            self.time.baseattr("record")(h._ref_t, sec=section)
            return
        self.time.resize(0)

    def load_stdrun(self) -> None:
        """Load ``stdrun.hoc`` once (``run``, ``continuerun``, ``tstop``, ``v_init``)."""
        if not self.__dict__["_stdrun"]:
            h.load_file("stdrun.hoc")
            object.__setattr__(self, "_stdrun", True)

    def _prepare_init(self) -> None:
        """What must hold before anything calls ``finitialize``, whoever calls it.

        Refuses models NEURON would crash on, renews the time recording and does the
        parallel set-up (collective under MPI: every rank initialises together).
        """
        _check_step(h.dt)
        _objects.check_netstim_inputs()
        _objects.check_pointers()
        self._ensure_time()
        from . import _parallel

        _parallel.prepare(self.parallel)

    def finitialize(self, *args: Any) -> Any:
        """``h.finitialize`` after the parallel set-up NEURON needs, when it needs it."""
        for value in args:
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"finitialize takes an initial voltage in mV, not {value!r}.")
        self._prepare_init()
        return _hoc_call("finitialize", h.finitialize, *args)

    def stdinit(self) -> None:
        """The run system's ``stdinit()``: ``setdt()``, then the (possibly user-defined)
        ``init()``, after Patch's checks and parallel set-up."""
        self.load_stdrun()
        self._prepare_init()
        _hoc_call("stdinit", h.stdinit)

    def init(self) -> None:
        """The run system's ``init()`` (yours, if the model redefines it), after the set-up."""
        self.load_stdrun()
        self._prepare_init()
        _hoc_call("init", h.init)

    def run(self, duration: float | None = None) -> None:
        """NEURON's ``run()``: initialise and simulate until ``tstop``.

        ``p.run(duration)`` is ``p.tstop = duration; p.run()``. Serially this is the hoc
        run system itself, so a model's own ``init()``, ``advance()`` or ``run()``, its
        ``FInitializeHandler``s and ``setdt()`` behave exactly as with ``h.run()``.
        Across ranks it is ``stdinit()`` followed by ``ParallelContext.psolve(tstop)``,
        the only way spikes cross ranks (a hoc ``advance()`` is then not called per step).
        """
        self.load_stdrun()
        if duration is not None:
            _check_time("duration", duration)
            h.tstop = duration
        _check_time("tstop", h.tstop)
        from . import _parallel

        if _parallel.needs_psolve(self.parallel):
            self.stdinit()
            self._advance_to(h.tstop)
        else:
            self._prepare_init()
            _hoc_call("run", h.run)

    def continuerun(self, until: float) -> None:
        """Continue the simulation up to time ``until`` without re-initialising."""
        self.load_stdrun()
        _check_time("until", until)
        self._advance_to(until)

    def fadvance(self) -> Any:
        """Advance one time step (``h.fadvance``), refused where NEURON would crash or hang."""
        self.check_can_continue()
        return h.fadvance()

    def _advance_to(self, until: float) -> None:
        from . import _parallel

        self.check_can_continue()
        _objects.check_pointers()  # a point process made since the initialisation
        if _parallel.needs_psolve(self.parallel):
            self.parallel.set_maxstep(10)  # collective; connects receivers made since init
            self.parallel.psolve(until)
        else:
            _hoc_call("continuerun", h.continuerun, until)

    def check_can_continue(self) -> None:
        """Raise where continuing the simulation would make NEURON hang or crash.

        A time step that is not a positive number never reaches the end of a run, and a
        NetCon or synapse freed since the last initialisation (by anyone: ``p``, ``h`` or
        a hoc ``init()``) may still have events in NEURON's queue, which NEURON would
        deliver to freed memory.
        """
        _check_step(h.dt)
        freed = _refs.freed_event_objects() - _initialised.freed_at_init
        if freed:
            raise SimulatorError(
                f"{freed} NetCon(s) or synapse(s) were freed after the simulation was "
                "initialised, and NEURON may still have events queued for them. Call "
                "p.finitialize() (or p.run()) before continuing, or keep a reference to "
                "the model while it runs."
            )

    def delete_section(self, *args: Any, sec: Any = None) -> None:
        """``h.delete_section``, refused while a NetCon still targets a synapse on it."""
        section = transform(sec) if sec is not None else self.cas()
        if args:
            raise TypeError("delete_section takes the section as sec=: p.delete_section(sec=s).")
        _objects.check_alive(section)
        targets = _objects.netcon_targets_on(section)
        if targets:
            raise SimulatorError(
                f"Cannot delete {section.name()}: NetCons still deliver to {targets} on it, "
                "and NEURON would crash at the next finitialize. Drop your references to "
                "the section and let Patch free it with everything connected to it, or "
                "delete those NetCons first."
            )
        for other in list(_refs.references(section)):
            _refs.unlink(section, other)
        h.delete_section(sec=section)

    # -- parallel --------------------------------------------------------------------
    @property
    def parallel(self) -> Any:
        """The one ParallelContext of this process."""
        from . import _parallel

        return _parallel.context()

    def ParallelContext(self) -> Any:  # noqa: N802 - mirrors h.ParallelContext
        """The one ParallelContext (the same object as ``p.parallel``)."""
        return self.parallel

    def ParallelCon(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        """Transmit ``ParallelCon(obj, gid)`` or receive ``ParallelCon(gid, target)`` spikes."""
        from . import _parallel

        return _parallel.parallel_con(*args, **kwargs)

    def nrn_load_dll(self, path: str) -> Any:
        """Load compiled mechanisms; their point processes become Patch classes too."""
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No compiled mechanism library at {path!r}; run nrnivmodl on your .mod "
                "folder and pass the path of the library it builds."
            )
        result = h.nrn_load_dll(path)
        _objects.add_mod_folder(path)
        return result

    def load_file(self, *args: Any) -> Any:
        """``h.load_file`` that raises when the file does not exist or fails to load."""
        name = args[-1] if args else None
        try:
            result = h.load_file(*args)
        except RuntimeError as error:
            raise HocError(f"p.load_file could not load {name!r}: {error}") from error
        if not result:
            raise HocError(f"p.load_file could not load {name!r}: check the path and hoc syntax.")
        if name == "stdrun.hoc":
            object.__setattr__(self, "_stdrun", True)
        return result


def _hoc_call(name: str, function: Any, *args: Any) -> Any:
    """Call a hoc function of the run system; a hoc error becomes a ``HocError``."""
    try:
        return function(*args)
    except RuntimeError as error:
        if type(error) is not RuntimeError:
            raise
        raise HocError(f"p.{name}() failed in NEURON: {error}") from error


class _Initialised:
    """Freed NetCons and synapses counted at the last ``finitialize``, whoever called it."""

    def __init__(self) -> None:
        self.freed_at_init = _refs.freed_event_objects()
        # Runs inside every finitialize: hoc's init(), h.finitialize and p alike.
        self.handler = h.FInitializeHandler(1, self)

    def __call__(self) -> None:
        self.freed_at_init = _refs.freed_event_objects()


_initialised = _Initialised()


def _check_step(dt: Any) -> None:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not math.isfinite(dt):
        raise ValueError(
            f"dt={dt!r}: the time step must be a positive number of ms (NEURON would "
            "never reach the end of the run)."
        )


def _check_time(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r}: give a finite, non-negative time in ms.")


p = PythonHocInterpreter()
