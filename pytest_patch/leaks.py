"""A clean simulator per test: the baseline every test starts from, and the leak check.

The baseline is every global setting of NEURON (``t``, ``dt``, ``celsius``, the run
system's ``tstop``, ``v_init`` and ``steps_per_ms``, ``secondorder``, CVode's settings,
mechanism GLOBALs, ion defaults, threads, the random-stream index: see :mod:`.state`)
as it is before the first test runs with NEURON started, completed with ``stdrun.hoc``
when a test first asks for the simulator (the ``p`` fixture and those built on it): a
session whose tests never ask for it never has NEURON imported or its run system loaded
by the plugin. Every test using ``p`` starts from it, and it is restored after the test.
After a test, a section, point process or NetCon it made that is still alive fails it
(``--nrn-leaks``).
"""

from __future__ import annotations

import gc
import re
import sys
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import patch

from .state import GlobalState, pristine

LEAK_MODES = ("error", "warn", "off")
_KINDS = {"sections": "sections", "point_processes": "point processes", "netcons": "NetCons"}


class LeakWarning(UserWarning):
    """A test left sections, point processes or NetCons alive (``--nrn-leaks=warn``)."""


#: The session's :class:`Simulator`.
simulator_key = pytest.StashKey["Simulator"]()
#: Whether the test's setup or call failed (its traceback then holds what it made).
failed_key = pytest.StashKey[bool]()
#: Whether the test runs in a process of its own (``nrn_isolated``): what it leaves
#: alive ends with that process, so it is not a leak.
contained_key = pytest.StashKey[bool]()
#: What lived in NEURON when the call of a test without the ``p`` fixture began.
_call_start_key = pytest.StashKey[Counter[tuple[str, str]]]()


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register ``--nrn-leaks`` and its ini key ``nrn_leaks``."""
    group.addoption(
        "--nrn-leaks",
        choices=LEAK_MODES,
        default=None,
        help="what a test that leaves a section, point process or NetCon alive gets: "
        "an error at teardown (default), a warning, or nothing (off).",
    )
    parser.addini(
        "nrn_leaks",
        "what a test that leaves NEURON objects alive gets: error, warn or off.",
        default="error",
    )


def configure(config: pytest.Config) -> None:
    """Capture the simulator baseline and register the leak checker for the session."""
    mode = config.getoption("nrn_leaks", None) or config.getini("nrn_leaks").strip()
    if mode not in LEAK_MODES:
        raise pytest.UsageError(
            f"nrn_leaks = {mode!r} is not a leak mode: use one of {', '.join(LEAK_MODES)}."
        )
    simulator = Simulator(mode, config.rootpath)
    config.stash[simulator_key] = simulator
    config.pluginmanager.register(simulator, "pytest-patch-simulator")


# A variable the run system (stdrun.hoc) declares: whether it was loaded.
_RUN_SYSTEM_MARK = "v_init"


class Simulator:
    """The session's NEURON: the baseline each test starts from, and the leak check."""

    def __init__(self, leaks: str, rootpath: Path) -> None:
        self.leaks = leaks
        self._rootpath = rootpath
        # The global settings at the first test that ran with NEURON started, before the
        # run system was loaded (``None`` until then), and the whole baseline.
        self._early: GlobalState | None = None
        self._baseline: GlobalState | None = None
        # Whether a test has run before NEURON was started: NEURON may then have been
        # started inside a test, whose changes are not the baseline.
        self._ran_without_neuron = False
        # What tests without the ``p`` fixture made and left alive, by test.
        self._left_by: dict[str, list[str]] = {}

    @property
    def p(self) -> patch.PythonHocInterpreter:
        """``patch.p`` (asking for it starts NEURON)."""
        return patch.p

    @property
    def baseline(self) -> GlobalState:
        """The global settings every test starts from (``t`` is always 0).

        Read before the first test that runs once NEURON is started (so no test has
        changed them yet), completed with the run system's own settings when a test
        first asks for the simulator (which loads ``stdrun.hoc``). When NEURON was first
        started inside a test, or its run system first loaded by one, NEURON's own defaults
        stand in for what that test changed.
        """
        if self._baseline is None:
            # Started here, NEURON is at its defaults: no fresh interpreter is needed.
            started_now = "neuron" not in sys.modules
            # A test loaded the run system after the first part was read (a test without
            # the p fixture, say): its settings are that test's, not NEURON's.
            loaded_by_a_test = (
                not started_now
                and self._early is not None
                and _RUN_SYSTEM_MARK not in self._early.values
                and sys.modules["neuron"].h.name_declared(_RUN_SYSTEM_MARK) == 5
            )
            patch.p.load_stdrun()
            h = patch.transform(patch.p)
            if self._early is None and self._ran_without_neuron and not started_now:
                self._early = pristine()
            values = GlobalState.capture(h).values
            if loaded_by_a_test:
                values.update(pristine().values)
            values.update(self._early.values if self._early else {})
            values["t"] = 0.0
            self._baseline = GlobalState(values).bind(h)
        return self._baseline

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self._early is not None or self._baseline is not None:
            return
        neuron = sys.modules.get("neuron")  # started by the suite, a conftest or the plugin
        if neuron is None:
            self._ran_without_neuron = True
        elif self._ran_without_neuron:
            self._early = pristine()  # NEURON was started inside an earlier test
        else:
            self._early = GlobalState.capture(neuron.h)

    # -- what tests without the p fixture leave behind -----------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if (
            "neuron" in sys.modules
            and "p" not in getattr(item, "fixturenames", ("p",))
            and not item.stash.get(contained_key, False)
        ):
            item.stash[_call_start_key] = self.snapshot()
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            start = item.stash.get(_call_start_key, None)
            if start is not None and not item.stash.get(failed_key, False):
                left = self.snapshot() - start
                if left:  # alive, or garbage a collection frees (nothing new: nothing to free)
                    gc.collect()
                    left = self.snapshot() - start
                if left:
                    self._left_by[item.nodeid] = sorted(name for _, name in left.elements())

    def _left_behind(self) -> str | None:
        """What tests without the ``p`` fixture made and left alive, if any still lives."""
        if not self._left_by:
            return None
        alive = {name for _, name in self.snapshot()}
        left = {
            test: [name for name in names if name in alive] for test, names in self._left_by.items()
        }
        self._left_by.clear()
        left = {test: names for test, names in left.items() if names}
        if not left:
            return None
        return (
            "NEURON objects made by earlier tests that do not use the p fixture are alive and "
            "take part in this test's simulation: "
            + "; ".join(f"{test} left {_listed(names)}" for test, names in left.items())
            + ". Free them at the end of the test that made them (its models, hoc "
            "sections it created: delete_section()), use the p fixture there (its leak "
            "check names what holds them), or run it isolated (@pytest.mark.nrn_isolated)."
        )

    # -- test set-up and teardown --------------------------------------------------------
    def start(self, item: pytest.Item | None = None) -> Counter[tuple[str, str]]:
        """Put the simulator back at the baseline; return what lives in NEURON now.

        ``item`` (the test) is warned of objects that earlier tests without the ``p``
        fixture left alive, which its simulation would include.
        """
        collected = False
        if getattr(sys, "last_traceback", None) is not None:
            # An earlier failure's traceback holds its test's frames and their models.
            sys.last_type = sys.last_value = sys.last_traceback = None
            if hasattr(sys, "last_exc"):
                sys.last_exc = None
            gc.collect()
            collected = True
        self.reset()
        # The plugin loaded the run system before the test: however the test switches
        # CVode, its runs end at tstop, as the same lines in a fresh script would.
        patch.follow_cvode(True)
        before = self.snapshot()
        if before and not collected:
            # What lives may be garbage no collection has freed yet: a module-scoped
            # fixture's model in a reference cycle (``Section(cell=self)``) torn down after
            # its module's last test, or a model an earlier test dropped from a cache. It
            # would take part in this test's simulation. (Nothing alive: nothing to free.)
            gc.collect()
            before = self.snapshot()
        left = self._left_behind()
        if left is not None and item is not None:
            item.warn(LeakWarning(left))
        if not before:
            # Nothing longer-lived owns a gid, so earlier tests' gids can all go.
            self.p.parallel.gid_clear()
        return before

    def reset(self) -> list[tuple[str, float, float]]:
        """Put every global setting back at the baseline; return what had changed."""
        return self.baseline.restore(patch.transform(self.p))

    @contextmanager
    def example(self) -> Iterator[patch.PythonHocInterpreter]:
        """One hypothesis example: the simulator at the baseline, then ``p``.

        The baseline is restored on entry, as the ``p`` fixture does for a test; the
        example's objects are freed once hypothesis drops them.
        """
        self.start()
        yield self.p

    def finish(self, item: pytest.Item, before: Counter[tuple[str, str]]) -> None:
        """Restore the baseline; release what the test dropped; report what it left alive
        as ``leaks`` says."""
        patch.follow_cvode(False)
        self.reset()
        if item.stash.get(failed_key, False) or item.stash.get(contained_key, False):
            gc.collect()  # the traceback keeps the test's objects: not a leak of its own
            return
        leaked = self.leaked(before)
        if not leaked or self.leaks == "off":
            return
        message = self.describe(item, leaked)
        if self.leaks == "error":
            pytest.fail(message, pytrace=False)
        item.warn(LeakWarning(message))

    def snapshot(self) -> Counter[tuple[str, str]]:
        """The sections, point processes and NetCons alive in NEURON, as (kind, name)."""
        return Counter(
            (kind, name) for kind, names in patch.live_objects().items() for name in names
        )

    def leaked(self, before: Counter[tuple[str, str]]) -> dict[str, list[str]]:
        """What lives now and did not live in ``before``, after a garbage collection."""
        # The young generations are cheap to collect and hold most of a short test's
        # objects; a full collection only runs when something still seems to be left.
        gc.collect(1)
        new = self.snapshot() - before
        if new:
            gc.collect()
            new = self.snapshot() - before
        found: dict[str, list[str]] = {}
        for kind, name in sorted(new.elements()):
            found.setdefault(kind, []).append(name)
        return found

    def describe(self, item: pytest.Item, leaked: dict[str, list[str]]) -> str:
        """A leak report: what leaked, who still holds it, and what to do."""
        count = sum(len(names) for names in leaked.values())
        lines = [
            f"{item.nodeid} left {count} NEURON object{'s' * (count != 1)} alive after "
            "its teardown:"
        ]
        for kind, label in _KINDS.items():
            names = leaked.get(kind, [])
            if names:
                more = f", ... ({len(names)} in all)" if len(names) > 10 else ""
                lines.append(f"  {label}: {', '.join(names[:10])}{more}")
        every = {name for group in leaked.values() for name in group}
        in_hoc = hoc_holders(every)
        self_held = {holder: held for holder, held in in_hoc.items() if _SELF in holder}
        in_hoc = {holder: held for holder, held in in_hoc.items() if _SELF not in holder}
        held_by_hoc = {name for held in [*in_hoc.values(), *self_held.values()] for name in held}
        holders = _module_holders(every, self._rootpath)
        if self_held:
            lines.append(_held("Held by itself", self_held))
            lines.append(
                "A hoc template instance that references itself is never freed, by Python "
                "or by hoc. Call the model's own teardown at the end of the test (such as "
                "its destroy() procedure, which sets that objref to nil), in a fixture's "
                "teardown if the test may fail."
            )
        if in_hoc:
            lines.append(_held("Held by hoc", in_hoc))
            lines.append(
                "Hoc keeps what a hoc file or template made for the rest of the process: the "
                "test cannot drop it, and a later load_file of the same file runs no code. "
                "Run such tests on a fresh NEURON each: mark them @pytest.mark.nrn_isolated, "
                "or set nrn_isolate = test (or module) in the ini file (docs/hoc.md)."
            )
        if holders:
            lines.append("Held by: " + "; ".join(holders) + ".")
        if holders or not every <= held_by_hoc:
            lines.append(
                (
                    "Python still references the others"
                    if in_hoc or self_held
                    else "Something outside the test still references them"
                )
                + ", such as a module-level list, a global, a class attribute or a cache. "
                "Drop that reference when the test ends, or build them in a fixture with "
                "the scope they need."
            )
        lines.append("(--nrn-leaks=warn or off relaxes this check.)")
        return "\n".join(lines)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when in ("setup", "call") and call.excinfo is not None:
            if not call.excinfo.errisinstance(pytest.skip.Exception):
                item.stash[failed_key] = True
        return report


def _name_of(obj: Any) -> str | None:
    """The NEURON name of a section or hoc object, ``None`` for anything else."""
    module = type(obj).__module__
    if not (module in ("nrn", "hoc") or module == "patch" or module.startswith("patch.")):
        return None
    try:
        return str(obj.hname() if hasattr(type(obj), "hname") or module == "hoc" else obj.name())
    except Exception:  # a deleted section, or an object NEURON no longer knows
        return None


def _module_holders(names: set[str], rootpath: Path) -> list[str]:
    """Globals of the project's modules that hold (or directly contain) a leaked object,
    or the hoc template instance that owns one (``PyrCell[0]`` for ``PyrCell[0].soma``)."""
    names = names | {match.group(1) for name in names if (match := _INSTANCE.match(name))}
    found = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or "site-packages" in Path(path).parts:
            continue
        if not Path(path).is_relative_to(rootpath):
            continue
        for variable, value in list(vars(module).items()):
            if variable.startswith("__"):
                continue
            if isinstance(value, dict):
                contents: Iterable[Any] = list(value.values())
            elif isinstance(value, (list, tuple, set, frozenset)):
                contents = list(value)
            else:
                contents = [value]
            if any(_name_of(obj) in names for obj in contents):
                found.append(f"{variable} in module {module.__name__}")
    return found


# A hoc template instance's own sections are named after it: ``Cell[0].soma``.
_INSTANCE = re.compile(r"^([A-Za-z_]\w*\[\d+\])\.")
# NEURON's own classes: their members are methods and settings, not a model's objects.
_BUILTIN_CLASSES = frozenset(
    "Vector List Matrix Random File Graph NetCon NetStim PatternStim VecStim SectionList "
    "SectionRef ParallelContext CVode Impedance StringFunctions Shape PlotShape Pointer "
    "PythonObject Timer Deck VBox HBox LinearMechanism FInitializeHandler".split()
)


def hoc_holders(names: set[str]) -> dict[str, list[str]]:
    """Which hoc objects keep the named NEURON objects alive, as ``{holder: [names]}``.

    A holder is a hoc template instance (its sections are named after it, its public
    objrefs are searched) that a hoc variable reaches or that references itself
    (``CellRef = this``), or a top-level hoc objref (``stim``, ``cells[2]``). An instance
    that only Python holds is not hoc's: the report names the Python holder instead.
    """
    h = patch.transform(patch.p)
    reached = _hoc_variables(h)  # hoc name of an object -> the hoc variables that hold it
    found: dict[str, list[str]] = {}
    for name in sorted(names):
        instance = _INSTANCE.match(name)
        if instance:
            owner = instance.group(1)
            via = reached.get(owner)
            if via:
                holder = f"the hoc template instance {owner} (hoc variable {', '.join(via)})"
            else:
                member = _self_reference(h, owner)
                if member is None:
                    continue  # not held by hoc: Python (or nothing) holds the instance
                holder = f"the hoc template instance {owner}, {_SELF} (objref {member})"
        elif name in reached:
            holder = f"the hoc variable {', '.join(reached[name])}"
        else:
            continue
        found.setdefault(holder, []).append(name)
    return found


_SELF = "which references itself"


def _self_reference(h: Any, owner: str) -> str | None:
    """The public objref of the template instance named ``owner`` that holds the
    instance itself (``CellRef = this``), or ``None``."""
    template = owner.partition("[")[0]
    try:
        instances = h.List(template)
    except Exception:  # not a template name hoc knows
        return None
    for index in range(int(instances.count())):
        instance = instances.o(index)
        if _hoc_name(instance) != owner:
            continue
        for member in dir(instance):
            if member not in ("baseattr", "hname", "hocobjptr", "same"):
                if _hoc_name(_attribute(instance, member)) == owner:
                    return member
    return None


def hoc_variables() -> dict[str, tuple[list[str], Any]]:
    """Every object a hoc variable holds (a top-level objref, an element of an objref
    array, a public objref of a template instance one of those holds), by hoc name
    (``Vector[3]``): the hoc expressions that reach it (``cell.vsoma``), and the object."""
    objects: dict[str, Any] = {}
    reached = _hoc_variables(patch.transform(patch.p), objects)
    return {name: (paths, objects[name]) for name, paths in reached.items()}


def _hoc_variables(h: Any, objects: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Objects reachable from top-level hoc objrefs (and the elements of top-level Lists)
    and the public objrefs of template instances they hold, by hoc name, with the hoc
    expressions that reach them (and the objects themselves in ``objects``, when given)."""
    reached: dict[str, list[str]] = {}
    lists: set[str] = set()
    todo: list[tuple[str, Any, int]] = []
    for variable in dir(h):
        if h.name_declared(variable) == 2:  # an objref (or an array of them)
            todo.append((variable, _attribute(h, variable), 0))
    while todo:
        path, value, depth = todo.pop()
        for where, obj in _elements(path, value):
            name = _hoc_name(obj)
            if name is None or name.endswith("()"):
                continue
            if where not in reached.setdefault(name, []):
                reached[name].append(where)
            if objects is not None:
                objects.setdefault(name, obj)
            base = name.partition("[")[0]
            if base == "List" and depth == 0 and name not in lists:
                # The elements of a top-level List (``cells.o(2)``), as if held directly.
                lists.add(name)
                for index in range(int(obj.count())):
                    todo.append((f"{where}.o({index})", obj.o(index), 0))
            elif depth == 0 and base not in _BUILTIN_CLASSES and not patch.is_point_process(obj):
                for member in dir(obj):
                    # (Python's own attributes: __doc__ would load NEURON's help texts)
                    if member not in (
                        "baseattr",
                        "hname",
                        "hocobjptr",
                        "same",
                    ) and not member.startswith("__"):
                        todo.append((f"{where}.{member}", _attribute(obj, member), 1))
    return reached


def _attribute(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except Exception:  # a hoc attribute that cannot be read: it holds nothing we can name
        return None


def _elements(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    """``(path, object)`` for an objref, or for each set element of an objref array."""
    name = _hoc_name(value)
    if name is None or not name.endswith("[?]"):
        yield path, value
        return
    for index in range(100_000):
        try:
            element = value[index]
        except (IndexError, TypeError):
            return
        if element is not None:
            yield f"{path}[{index}]", element


def _hoc_name(obj: Any) -> str | None:
    if obj is None or type(obj).__module__ != "hoc":
        return None
    try:
        return str(obj.hname())
    except Exception:  # not a hoc object with a name
        return None


def _held(title: str, holders: dict[str, list[str]]) -> str:
    """``Held by hoc: the hoc variable stim holds IClamp[0]; ...``."""
    return (
        f"{title}: "
        + "; ".join(f"{holder} holds {_listed(held)}" for holder, held in holders.items())
        + "."
    )


def _listed(names: list[str]) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > 6 else ""
    return ", ".join(names[:6]) + more
