"""The policy of isolated tests (``nrn_isolated``): the option and ini key, the marker,
which tests run isolated and how, and the session's hooks that set them up.

See :mod:`pytest_patch.isolation` for what isolation is and how it runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

import pytest

import patch

from ..leaks import contained_key
from ..mpi.child import own_world_key
from ..mpi.markers import required_ranks
from .item import IsolatedItem, SetupDone
from .processes import FreshWorker, Worker, Zygote
from .remote import own_capture, serve, warm

MARKER = "nrn_isolated"
MODES = ("test", "module", "off")
MARKER_LINE = (
    f"{MARKER}: run the test (each test of a marked class or module) on a fresh NEURON, "
    "in a process of its own, so that hoc templates, hoc globals and files loaded by "
    "load_file cannot carry over from one test to the next. Takes no arguments; ini "
    "nrn_isolate = test|module isolates a whole suite."
)

#: The session's :class:`Isolation`.
isolation_key = pytest.StashKey["Isolation"]()
#: The item that runs after this one (pytest's ``nextitem``), for teardown in the child.
_next_key = pytest.StashKey["pytest.Item | None"]()

_USAGE = (
    f"use @pytest.mark.{MARKER} without arguments on a test, class or module "
    "(pytestmark), or ini nrn_isolate = test|module for the whole suite"
)
_DIRECT_MPI = (
    "an isolated test that needs {ranks} ranks needs an MPI world of its own, and this "
    "session's ranks share the launcher's: run it with a serial `python -m pytest "
    "{nodeid}` (which starts an `mpiexec -n {ranks}` for it), or alone with "
    "`mpiexec -n {ranks} python -m pytest --with-mpi {nodeid}`"
)


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register ``--nrn-isolate`` and its ini key ``nrn_isolate``."""
    group.addoption(
        "--nrn-isolate",
        choices=MODES,
        default=None,
        help="run every test on a fresh NEURON: one process per test (test), per test "
        "module (module), or only tests marked nrn_isolated (off, the default; ini "
        "nrn_isolate).",
    )
    parser.addini(
        "nrn_isolate",
        "which tests run on a fresh NEURON: test (each test), module (each test module) "
        "or off (only tests marked nrn_isolated).",
        default="off",
    )
    # The socket through which a fresh isolated process serves its parent session.
    group.addoption("--nrn-isolation-worker", type=int, default=None, help=argparse.SUPPRESS)


def configure(config: pytest.Config) -> None:
    """Register the marker and the session's :class:`Isolation`."""
    config.addinivalue_line("markers", MARKER_LINE)
    mode = config.getoption("nrn_isolate", None) or str(config.getini("nrn_isolate")).strip()
    if mode not in MODES:
        raise pytest.UsageError(
            f"nrn_isolate = {mode!r} is not an isolation mode: use test (a fresh NEURON per "
            "test), module (per test module) or off (only tests marked nrn_isolated)."
        )
    isolation = Isolation(config, mode)
    config.stash[isolation_key] = isolation
    config.pluginmanager.register(isolation, "pytest-patch-isolation")


def mark_errors(node: pytest.Item) -> list[str]:
    """What is wrong with the ``nrn_isolated`` marks of a test (they take no arguments)."""
    errors = []
    for mark in node.iter_markers(MARKER):
        given = [*map(repr, mark.args), *(f"{key}={value!r}" for key, value in mark.kwargs.items())]
        if given:
            errors.append(
                f"{node.nodeid}: @pytest.mark.{MARKER} takes no arguments, got "
                f"{', '.join(given)}; {_USAGE}."
            )
    return errors


class Isolation:
    """Decides which tests are isolated, and runs them in processes of their own."""

    def __init__(self, config: pytest.Config, mode: str) -> None:
        self.config = config
        self.mode = mode
        #: Set in a fresh isolated process: the socket to its parent session.
        self.worker_fd: int | None = config.getoption("nrn_isolation_worker", None)
        self.launched = patch.launched_by_mpi()
        self._zygote: Zygote | None = None
        self._worker: Worker | None = None
        #: Why isolated tests ran in fresh processes rather than forks (``None``: forks).
        self.fresh_because: str | None = None

    def scope(self, item: pytest.Item) -> str | None:
        """``"test"`` or ``"module"`` when ``item`` runs isolated, else ``None``."""
        if item.get_closest_marker(MARKER) is not None:
            return "test"
        return None if self.mode == "off" else self.mode

    def pytest_report_header(self) -> str | None:
        if self.worker_fd is not None:
            return None
        which = (
            f"tests marked {MARKER}" if self.mode == "off" else f"every {self.mode} (nrn_isolate)"
        )
        if self.launched:
            how = (
                "each in a fresh python started by rank 0 outside the MPI world; a test "
                "needing N ranks only when it runs alone"
            )
        else:
            how = (
                "each forked from a warm NEURON (a fresh python where MPI or NEURON threads "
                "make fork unsafe); a test needing N ranks in an mpiexec -n N of its own"
            )
        return f"nrn isolation: {which} on a fresh NEURON, {how}"

    # -- collection ----------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # A collection error of the test's module (as for a bad mpi mark), which every
        # session reports the same way, pytest-xdist's workers included.
        errors = mark_errors(metafunc.definition)
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.worker_fd is not None or self.launched:
            return  # this process is an isolated one, or under a launcher: see below
        for index, item in enumerate(items):
            scope = self.scope(item)
            if scope is None or isinstance(item, IsolatedItem):
                continue
            if required_ranks(item) > 1:
                item.stash[own_world_key] = True  # an mpiexec -n N world of its own
                continue
            module = item.getparent(pytest.Module)
            group = item.nodeid if scope == "test" or module is None else module.nodeid
            assert item.parent is not None
            items[index] = IsolatedItem.from_parent(
                item.parent, name=item.name, original=item, isolation=self, group=group
            )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.launched or self.worker_fd is not None:
            return
        items = session.items
        if len(items) == 1 and self.scope(items[0]):
            items[0].stash[contained_key] = True  # alone: a fresh NEURON, gone afterwards
            return
        for index, item in enumerate(items):
            if not self.scope(item) or isinstance(item, IsolatedItem):
                continue
            ranks = required_ranks(item)
            if ranks > 1:
                reason = _DIRECT_MPI.format(ranks=ranks, nodeid=item.nodeid)
                item.add_marker(pytest.mark.skip(reason=reason))
                continue
            assert item.parent is not None
            items[index] = IsolatedItem.from_parent(
                item.parent, name=item.name, original=item, isolation=self, group=item.nodeid
            )

    # -- running -------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if self.worker_fd is not None:
            with socket.socket(fileno=self.worker_fd) as channel:
                serve(self.config, channel, session.items)
            return True
        if session.config.option.collectonly or not any(
            isinstance(item, IsolatedItem) for item in session.items
        ):
            return None
        self.fresh_because = fork_refusal()
        if self.fresh_because is None:
            # Before any test runs: the zygote must be a NEURON no test has touched.
            self._zygote = Zygote.start(
                lambda: own_capture(self.config),
                warm,
                lambda channel: serve(self.config, channel, session.items),
            )
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        item.stash[_next_key] = nextitem

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if not isinstance(item, IsolatedItem):
            return report
        if call.excinfo is not None and not call.excinfo.errisinstance(SetupDone):
            return report  # this session's own outcome: a skip, a timeout, an interruption
        if item.mirrored:  # rank 0 ran it: its report speaks for the test, once
            report.outcome, report.longrepr = "passed", None
            if hasattr(report, "wasxfail"):
                del report.wasxfail
            return report
        return item.report(call.when, report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.fresh_because is not None:
            terminalreporter.write_line(
                "nrn isolation: isolated tests ran in fresh python processes, not forks of a "
                f"warm NEURON, because {self.fresh_because}."
            )

    def pytest_unconfigure(self) -> None:
        if self._worker is not None:  # the session was interrupted during an isolated test
            self._worker.kill()
            self._worker = None
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None

    def run(self, item: IsolatedItem) -> None:
        """Run ``item`` in its group's process; fill in its reports.

        Under a launcher, rank 0 runs it and every rank gets rank 0's reports.
        """
        if not self.launched:
            self._run(item)
            return
        parallel = patch.p.parallel
        if parallel.rank == 0:
            try:
                self._run(item)
            finally:  # the other ranks wait for this broadcast whatever happened here
                parallel.broadcast(item.outcome(), root=0)
        else:
            item.mirror(parallel.broadcast(None, root=0))

    def _run(self, item: IsolatedItem) -> None:
        worker = self._worker
        if worker is None or worker.group != item.group:
            if worker is not None:
                worker.close()
            worker = self._worker = self._start(item)
        nextitem = item.stash.get(_next_key, None)
        following = None  # the next test of the same process, which keeps the fixtures both use
        if isinstance(nextitem, IsolatedItem) and nextitem.group == item.group:
            following = nextitem.original.nodeid
        try:
            kept = item.run_in(worker, following)
        except BaseException:  # interrupted (Ctrl-C, pytest-timeout): the test ends too
            worker.kill()
            self._worker = None
            raise
        if not kept:
            self._worker = None

    def _start(self, item: IsolatedItem) -> Worker:
        if self._zygote is not None:
            try:
                return self._zygote.spawn(item.group)
            except (OSError, ValueError):  # the zygote died: fresh processes from now on
                self._zygote.close()
                self._zygote = None
        nodeids = [
            other.original.nodeid
            for other in item.session.items
            if isinstance(other, IsolatedItem) and other.group == item.group
        ]
        return FreshWorker.start(self.config, item.group, nodeids, outside=self.launched)


def fork_refusal() -> str | None:
    """Why this process cannot be forked safely for isolated tests, or ``None`` if it can."""
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return "this platform cannot fork a process and pass it a socket"
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        return "MPI is initialised in this process, and a forked copy cannot use it"
    if "neuron" in sys.modules and patch.p.parallel.nthread() > 1:
        return "NEURON runs threads in this process, which a forked copy would not have"
    return None
