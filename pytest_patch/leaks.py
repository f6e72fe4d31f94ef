"""A clean simulator per test: the baseline every test starts from, and the leak check.

The baseline (``t``, ``dt``, ``celsius``, ``tstop``, ``v_init``, ``steps_per_ms``) is
NEURON's state when a test first asks for the simulator (the ``p`` fixture and those
built on it), with ``stdrun.hoc`` loaded then: a session whose tests never ask for it
never has NEURON imported or its run system loaded by the plugin. After a test, a section,
point process or NetCon it made that is still alive fails it (``--nrn-leaks``).
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

LEAK_MODES = ("error", "warn", "off")
# Simulator settings every test starts from (see Simulator.baseline).
BASELINE = ("t", "dt", "celsius", "tstop", "v_init", "steps_per_ms")
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


class Simulator:
    """The session's NEURON: the baseline each test starts from, and the leak check."""

    def __init__(self, leaks: str, rootpath: Path) -> None:
        self.leaks = leaks
        self._rootpath = rootpath
        self._baseline: dict[str, float] | None = None

    @property
    def p(self) -> patch.PythonHocInterpreter:
        """``patch.p`` (asking for it starts NEURON)."""
        return patch.p

    @property
    def baseline(self) -> dict[str, float]:
        """The settings every test starts from (``t`` is always 0).

        Read before the first test that runs once NEURON is started (so no test has
        changed them yet), and completed with the run system's own settings when a test
        first asks for the simulator (which loads ``stdrun.hoc``).
        """
        if self._baseline is None or len(self._baseline) < len(BASELINE):
            patch.p.load_stdrun()
            h = patch.transform(patch.p)
            known = self._baseline or {}
            self._baseline = {name: known.get(name, getattr(h, name)) for name in BASELINE}
        return self._baseline

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self._baseline is not None:
            return
        neuron = sys.modules.get("neuron")  # started by the suite, a conftest or the plugin
        if neuron is None:
            return
        h = neuron.h
        self._baseline = {"t": 0.0, "dt": h.dt, "celsius": h.celsius}
        if h.name_declared("tstop"):  # the run system is loaded already: take its values
            self._baseline.update({name: getattr(h, name) for name in BASELINE[3:]})

    # -- test set-up and teardown --------------------------------------------------------
    def start(self) -> Counter[tuple[str, str]]:
        """Put the simulator back at the baseline; return what lives in NEURON now."""
        if getattr(sys, "last_traceback", None) is not None:
            # An earlier failure's traceback holds its test's frames and their models.
            sys.last_type = sys.last_value = sys.last_traceback = None
            if hasattr(sys, "last_exc"):
                sys.last_exc = None
            gc.collect()
        baseline = self.baseline
        h = patch.transform(self.p)
        for name, value in baseline.items():
            setattr(h, name, value)
        h.cvode.active(0)
        before = self.snapshot()
        if not before:
            # Nothing longer-lived owns a gid, so earlier tests' gids can all go.
            self.p.parallel.gid_clear()
        return before

    @contextmanager
    def example(self) -> Iterator[patch.PythonHocInterpreter]:
        """One hypothesis example: the simulator at the baseline, then ``p``.

        The baseline is restored on entry, as the ``p`` fixture does for a test; the
        example's objects are freed once hypothesis drops them.
        """
        self.start()
        yield self.p

    def finish(self, item: pytest.Item, before: Counter[tuple[str, str]]) -> None:
        """Release what the test dropped; report what it left alive as ``leaks`` says."""
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
        held_by_hoc = {name for held in in_hoc.values() for name in held}
        holders = _module_holders(every, self._rootpath)
        if in_hoc:
            lines.append(
                "Held by hoc: "
                + "; ".join(f"{holder} holds {_listed(held)}" for holder, held in in_hoc.items())
                + "."
            )
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
                ("Python still references the others" if in_hoc else
                 "Something outside the test still references them")
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
    """Globals of the project's modules that hold (or directly contain) a leaked object."""
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
    objrefs are searched) or a top-level hoc objref (``stim``, ``cells[2]``), named with
    the hoc variable that reaches it where there is one.
    """
    h = patch.transform(patch.p)
    reached = _hoc_variables(h)  # hoc name of an object -> the hoc variables that hold it
    found: dict[str, list[str]] = {}
    for name in sorted(names):
        instance = _INSTANCE.match(name)
        if instance:
            owner = instance.group(1)
            via = reached.get(owner)
            holder = f"the hoc template instance {owner}" + (
                f" (hoc variable {', '.join(via)})" if via else ""
            )
        elif name in reached:
            holder = f"the hoc variable {', '.join(reached[name])}"
        else:
            continue
        found.setdefault(holder, []).append(name)
    return found


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
                    if member not in ("baseattr", "hname", "hocobjptr", "same") and not member.startswith("__"):
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


def _listed(names: list[str]) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > 6 else ""
    return ", ".join(names[:6]) + more
