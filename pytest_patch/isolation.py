"""Isolated tests (``nrn_isolated``): each runs on a fresh NEURON, reported in this session.

Hoc keeps templates, globals and the files ``load_file`` has read for the life of the
process, so the tests of a hoc model cannot be made independent inside one process. An
isolated test runs in a process of its own, forked from a warm *zygote*: a copy of this
session made before any test ran, which then started NEURON and Patch (the session's
``nrn_mod_dirs`` mechanisms are loaded at configure time) but built no model. A fork
costs milliseconds, where a fresh ``python`` + NEURON + mechanisms costs a second.

The isolated process runs the test's setup, call and teardown and sends each phase's
report back through pytest's own report serialization (as pytest-xdist does); this
session logs them as its own, so outcome, traceback, captured output and junit entries
are those of any other test. A process that dies (segfault, ``os._exit``) fails its test
only. Files a test writes (regression goldens) are written by the isolated process,
which has this session's options: a fork shares them, a fresh process repeats them.

Fork is not used once MPI is initialised in this process or NEURON runs threads (a
forked copy would inherit a world or threads it cannot use): each isolated test then
runs in a fresh ``python -m pytest``. An isolated test that needs N > 1 ranks gets an
``mpiexec -n N`` world of its own (:mod:`pytest_patch.mpi.child`).

Under a direct ``mpiexec ... pytest --with-mpi`` the ranks share one world that cannot be
restarted: rank 0 runs each single-rank isolated test in a fresh ``python -m pytest``
outside that world (no launcher variables in its environment) and broadcasts its reports,
so every rank logs the same outcome. An isolated test that needs N > 1 ranks cannot get
a world of its own there and is skipped on every rank, naming the command that runs it,
unless the session runs that one test alone (it then runs in the launcher's world).
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

import patch

from .leaks import contained_key
from .mpi import reporting
from .mpi.child import forwarded_args, own_world_key
from .mpi.markers import required_ranks

MARKER = "nrn_isolated"
MODES = ("test", "module", "off")
MARKER_LINE = (
    f"{MARKER}: run the test (each test of a marked class or module) on a fresh NEURON, "
    "in a process of its own, so that hoc templates, hoc globals and files loaded by "
    "load_file cannot carry over from one test to the next. Takes no arguments; ini "
    "nrn_isolate = test|module isolates a whole suite."
)
#: The most characters of one captured-output section sent back from an isolated test;
#: the rest is cut from its middle, saying how much.
SECTION_LIMIT = 2_000_000
#: The largest report (in bytes, serialized) sent back whole; a larger one is replaced by
#: a failure saying so, with the start of its traceback.
REPORT_LIMIT = 64_000_000

Phase = Literal["setup", "call", "teardown"]

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


class IsolatedItem(pytest.Item):
    """Stands in for an isolated test: its phases run in another process.

    Its setup runs the test there; the reports this session logs are the isolated
    process's own (see :meth:`Isolation.pytest_runtest_makereport`).
    """

    def __init__(
        self, *, original: pytest.Item, isolation: Isolation, group: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.original = original
        self.isolation = isolation
        #: Tests of one group share a process (one test, or one module).
        self.group = group
        self.own_markers.extend(original.own_markers)
        self.keywords.update(original.keywords)
        self.user_properties = original.user_properties
        #: The isolated process's report of each phase.
        self.reports: dict[str, pytest.TestReport] = {}
        #: Why a phase has no report from the isolated process (it died), by phase.
        self.lost: dict[str, str] = {}
        #: On ranks > 0 of a launcher's session: rank 0 ran the test, and these reports
        #: are copies of its own, which only keep this rank's phases in step.
        self.mirrored = False

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.original.reportinfo()

    def setup(self) -> None:
        self.isolation.run(self)
        setup = self.reports.get("setup")
        if setup is None or not setup.passed:
            raise _SetupDone("the isolated process's setup did not pass")

    def runtest(self) -> None:
        """The test ran in the isolated process during setup."""

    def report(self, when: str, here: pytest.TestReport) -> pytest.TestReport:
        """The report of phase ``when``: the isolated process's, else why it is missing."""
        if when in self.reports:
            return self.reports[when]
        if when in self.lost:
            here.outcome = "failed"
            here.longrepr = self.lost[when]
        return here


class _SetupDone(Exception):
    """The isolated test's setup failed or skipped there; its report says how."""


class Isolation:
    """Decides which tests are isolated, and runs them in processes of their own."""

    def __init__(self, config: pytest.Config, mode: str) -> None:
        self.config = config
        self.mode = mode
        #: Set in a fresh isolated process: the socket to its parent session.
        self.worker_fd: int | None = config.getoption("nrn_isolation_worker", None)
        self.launched = patch.launched_by_mpi()
        self._zygote: _Zygote | None = None
        self._worker: _Worker | None = None
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
                self._serve(channel, session.items)
            return True
        if session.config.option.collectonly or not any(
            isinstance(item, IsolatedItem) for item in session.items
        ):
            return None
        self.fresh_because = fork_refusal()
        if self.fresh_because is None:
            # Before any test runs: the zygote must be a NEURON no test has touched.
            self._zygote = _Zygote.start(
                lambda: _own_capture(self.config),
                self._warm,
                lambda channel: self._serve(channel, session.items),
            )
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        item.stash[_next_key] = nextitem

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Any:
        report = yield
        if not isinstance(item, IsolatedItem):
            return report
        if call.excinfo is not None and not call.excinfo.errisinstance(_SetupDone):
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
        outcome = None
        if parallel.rank == 0:
            try:
                self._run(item)
            finally:  # the other ranks wait for this broadcast whatever happened here
                outcome = self._outcome(item)
                parallel.broadcast(outcome, root=0)
        else:
            outcome = parallel.broadcast(None, root=0)
            item.reports = {
                when: reporting.deserialize(self.config, data)
                for when, data in outcome["reports"].items()
            }
            item.lost = outcome["lost"]
            item.mirrored = True

    def _outcome(self, item: IsolatedItem) -> dict[str, Any]:
        """``item``'s reports and lost phases, as they travel to the other ranks."""
        reports = {
            when: json.loads(json.dumps(reporting.serialize(self.config, report), default=repr))
            for when, report in item.reports.items()
        }
        lost = dict(item.lost)
        if not reports and not lost:
            lost["setup"] = "pytest-patch: rank 0 could not start the isolated process."
        return {"reports": reports, "lost": lost}

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
        keep = following is not None
        worker.send({"run": item.original.nodeid, "next": following})
        while True:
            try:
                message = worker.receive()
            except BaseException:  # interrupted (Ctrl-C, pytest-timeout): the test ends too
                worker.kill()
                self._worker = None
                raise
            if message is None:
                break
            if "report" in message:
                report = reporting.deserialize(self.config, message["report"])
                item.reports[report.when] = report
            elif message.get("done"):
                if not keep:
                    worker.close()
                    self._worker = None
                if "setup" not in item.reports:
                    item.lost["setup"] = (
                        f"pytest-patch: the isolated process did not collect "
                        f"{item.original.nodeid}, so it could not run it."
                    )
                return
        # The process ended before the test did: the phase it was in gets the reason.
        self._worker = None
        missing = [when for when in ("setup", "call", "teardown") if when not in item.reports]
        if not missing:
            worker.close()
            return
        phase = missing[0]
        if phase == "call" and not item.reports["setup"].passed:
            phase = "teardown"
        item.lost[phase] = worker.death(item.original.nodeid, phase)

    def _start(self, item: IsolatedItem) -> _Worker:
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
        return _FreshWorker.start(self.config, item.group, nodeids, outside=self.launched)

    # -- inside the zygote and the isolated processes ------------------------------------
    def _warm(self) -> None:
        """In the zygote: NEURON and Patch started, its run system loaded, no model."""
        patch.p.load_stdrun()
        gc.collect()
        gc.freeze()  # the isolated processes' collections then skip what they inherit

    def _serve(self, channel: socket.socket, items: list[pytest.Item]) -> None:
        """Run the tests the parent session asks for, sending each phase's report."""
        _own_capture(self.config)
        crash_log = _crash_log_path(os.getpid())
        with open(crash_log, "w") as crash_file:
            faulthandler.enable(file=crash_file, all_threads=True)
            originals = [getattr(item, "original", item) for item in items]
            by_id = {item.nodeid: item for item in originals}
            while True:
                request = _receive(channel)
                if request is None:
                    break
                item = by_id.get(request["run"])
                if item is None:
                    _send(channel, {"done": True})
                    break
                nextitem = by_id.get(request["next"]) if request["next"] else None
                item.stash[contained_key] = True
                _run_phases(item, nextitem, lambda report: self._send_report(channel, report))
                _send(channel, {"done": True})
                if nextitem is None:
                    break
            faulthandler.disable()
        os.unlink(crash_log)

    def _send_report(self, channel: socket.socket, report: pytest.TestReport) -> None:
        """Send ``report`` as pytest serializes it; one that cannot travel whole is replaced
        by a failure saying why, so no outcome is lost."""
        config = self.config
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        data["sections"] = [(title, _trimmed(text)) for title, text in data.get("sections", [])]
        try:
            message = {"report": data}
            encoded = json.dumps(message, default=repr).encode()
        except (TypeError, ValueError) as error:  # e.g. a circular user property
            message = {"report": _substitute(data, f"it could not be serialized: {error}")}
            encoded = json.dumps(message, default=repr).encode()
        if len(encoded) > REPORT_LIMIT:
            why = (
                f"it is {len(encoded) / 1e6:.0f} MB serialized, more than the "
                f"{REPORT_LIMIT / 1e6:.0f} MB an isolated test may send"
            )
            start = str(report.longrepr)[:20000]
            encoded = json.dumps({"report": _substitute(data, why, start)}, default=repr).encode()
        channel.sendall(struct.pack("!Q", len(encoded)) + encoded)


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


def _run_phases(
    item: pytest.Item, nextitem: pytest.Item | None, send: Callable[[pytest.TestReport], None]
) -> None:
    """Setup, call and teardown of ``item`` through pytest's hooks, without logging them.

    The parent session logs the reports; here each is sent as soon as it is made, so a
    crash in a later phase still leaves the earlier ones.
    """
    ihook = item.ihook

    def phase(when: Phase, run: Callable[[], object]) -> pytest.TestReport:
        call = pytest.CallInfo.from_call(
            run, when=when, reraise=(pytest.exit.Exception, KeyboardInterrupt)
        )
        report: pytest.TestReport = ihook.pytest_runtest_makereport(item=item, call=call)
        send(report)
        return report

    setup = phase("setup", lambda: ihook.pytest_runtest_setup(item=item))
    if setup.passed and not item.config.getoption("setuponly", False):
        phase("call", lambda: ihook.pytest_runtest_call(item=item))
    phase("teardown", lambda: ihook.pytest_runtest_teardown(item=item, nextitem=nextitem))


def _own_capture(config: pytest.Config) -> None:
    """Give this (forked) process capture files of its own.

    A fork shares the parent's capture files, and two processes reading and truncating
    one file would take each other's output.
    """
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None or not capman.is_globally_capturing():
        return
    capman.stop_global_capturing()
    capman.start_global_capturing()
    capman.suspend_global_capture(in_=False)


def _trimmed(text: str) -> str:
    if len(text) <= SECTION_LIMIT:
        return text
    half = SECTION_LIMIT // 2
    cut = len(text) - 2 * half
    return (
        f"{text[:half]}\n... [pytest-patch: {cut} characters of this isolated test's "
        f"output cut here; {len(text)} in all] ...\n{text[-half:]}"
    )


def _substitute(data: dict[str, Any], why: str, start: str = "") -> dict[str, Any]:
    """A failed report in place of one that cannot travel, saying why."""
    text = f"pytest-patch: the isolated test's {data.get('when')} report was replaced: {why}."
    if start:
        text += f"\nIts report began:\n{start}"
    kept = ("nodeid", "location", "keywords", "when", "duration")
    sections = [(title, str(body)[:100_000]) for title, body in data.get("sections", [])]
    return {
        **{key: data[key] for key in kept if key in data},
        "outcome": "failed",
        "longrepr": text,
        "sections": sections,
        "user_properties": [],
        "$report_type": "TestReport",
    }


def _crash_log_path(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"pytest-patch-isolated-{pid}.log"


def _describe_status(status: int | None) -> str:
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name} (signal {number})"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


# -- the wire: length-prefixed JSON ------------------------------------------------------
def _send(channel: socket.socket, message: dict[str, Any]) -> None:
    encoded = json.dumps(message, default=repr).encode()
    channel.sendall(struct.pack("!Q", len(encoded)) + encoded)


def _receive(channel: socket.socket) -> Any:
    """The next message, or ``None`` once the other end has closed (or died)."""
    header = _read(channel, 8)
    if header is None:
        return None
    body = _read(channel, struct.unpack("!Q", header)[0])
    return None if body is None else json.loads(body)


def _read(channel: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = channel.recv(min(size - len(chunks), 1 << 20))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


# -- the processes -----------------------------------------------------------------------
class _Worker:
    """The parent's end of one isolated process."""

    def __init__(self, group: str, channel: socket.socket) -> None:
        self.group = group
        self.channel = channel

    def send(self, message: dict[str, Any]) -> None:
        try:
            _send(self.channel, message)
        except OSError:
            pass  # it died already: receive() says so

    def receive(self) -> Any:
        return _receive(self.channel)

    def close(self) -> None:
        self.channel.close()

    def kill(self) -> None:
        """End the process now (the session is ending without it)."""
        self.close()

    def status(self) -> int | None:
        """The wait status of the ended process."""
        raise NotImplementedError

    def output(self) -> str:
        """What the process wrote outside pytest's capture before it died."""
        return ""

    def death(self, nodeid: str, phase: str) -> str:
        """Why the process gave no report for ``phase`` of ``nodeid``."""
        self.close()
        status = self.status()
        lines = [
            f"pytest-patch: the isolated process running {nodeid} {_describe_status(status)} "
            f"during its {phase}, before it could report (a crash in NEURON or a mechanism, "
            "os._exit, or the test killed it). Its output since the last report is lost; "
            "the other tests are not affected."
        ]
        extra = self.output().strip()
        if extra:
            lines += ["", extra]
        return "\n".join(lines)


class _ForkedWorker(_Worker):
    def __init__(self, group: str, channel: socket.socket, pid: int, zygote: _Zygote) -> None:
        super().__init__(group, channel)
        self.pid = pid
        self.zygote = zygote
        self._waited = False
        self._status: int | None = None

    def close(self) -> None:
        """Close the channel; the process then ends, and the processes it started with it."""
        super().close()
        self.status()

    def kill(self) -> None:
        _end_group(self.pid)  # first: closing waits for the process to end
        _Worker.close(self)

    def status(self) -> int | None:
        if not self._waited:
            self._waited = True
            try:
                self._status = self.zygote.wait(self.pid)
            except (OSError, ValueError):  # the zygote is gone too: no status to tell
                _end_group(self.pid)
        return self._status

    def output(self) -> str:
        return self.stack(self.pid)

    @staticmethod
    def stack(pid: int) -> str:
        """The Python stack that faulthandler wrote when process ``pid`` crashed."""
        log = _crash_log_path(pid)
        try:
            text = log.read_text(errors="replace")
            log.unlink()
        except OSError:
            return ""
        # Frames from here down are pytest-patch's and pytest's, not the test's.
        ours = f'File "{__file__}"'
        lines = text.splitlines()
        cut = next((i for i, line in enumerate(lines) if ours in line), None)
        if cut is not None:
            rest = [line for line in lines[cut:] if line.startswith("Extension modules")]
            lines = [*lines[:cut], "  ...", *rest]
        text = "\n".join(lines)
        return f"Python stack when it died:\n{text}" if text.strip() else ""


class _FreshWorker(_Worker):
    """An isolated process started as a fresh ``python -m pytest`` (no fork possible)."""

    def __init__(
        self, group: str, channel: socket.socket, process: subprocess.Popen[bytes], log: Any
    ) -> None:
        super().__init__(group, channel)
        self.process = process
        self.log = log

    @classmethod
    def start(
        cls, config: pytest.Config, group: str, nodeids: list[str], outside: bool = False
    ) -> _FreshWorker:
        """Start ``python -m pytest`` on ``nodeids`` with this session's options.

        ``outside``: this process was started by an MPI launcher, and the new one must
        not join its world (nor think that it was started by one).
        """
        ours, theirs = socket.socketpair()
        command = [
            sys.executable, "-m", "pytest", "-p", "pytest_patch", "-p", "no:cacheprovider",
            f"--nrn-isolation-worker={theirs.fileno()}", f"--rootdir={config.rootpath}", "-qq",
        ]  # fmt: skip
        if config.inipath is not None:
            command += ["-c", str(config.inipath)]
        if config.pluginmanager.hasplugin("xdist"):
            command += ["-n", "0"]
        command += forwarded_args(config.invocation_params.args)
        command += [f"{config.rootpath}{os.sep}{nodeid}" for nodeid in nodeids]
        env = patch.serial_environment() if outside else None
        log = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(
                command, cwd=config.invocation_params.dir, pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # a process group of its own, ended with it
            )  # fmt: skip
        finally:
            theirs.close()
        return cls(group, ours, process, log)

    def close(self) -> None:
        super().close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        _end_group(self.process.pid)

    def kill(self) -> None:
        self.channel.close()
        _end_group(self.process.pid)
        self.process.wait()

    def status(self) -> int | None:
        code = self.process.wait()
        return (-code) & 0x7F if code < 0 else code << 8

    def output(self) -> str:
        self.log.seek(0)
        text: str = self.log.read().decode(errors="replace")[-20000:]
        output = f"Its output:\n{text}" if text.strip() else ""
        parts = [_ForkedWorker.stack(self.process.pid), output]
        return "\n".join(part for part in parts if part)


class _Zygote:
    """A warm copy of the session, forked before any test ran; it forks isolated tests.

    Requests and answers are JSON packets on a ``SOCK_SEQPACKET`` pair; each isolated
    process gets a stream socket of its own, handed to the parent with ``SCM_RIGHTS``.
    """

    def __init__(self, channel: socket.socket, pid: int) -> None:
        self.channel = channel
        self.pid = pid

    @classmethod
    def start(
        cls,
        prepare: Callable[[], None],
        warm: Callable[[], None],
        serve: Callable[[socket.socket], None],
    ) -> _Zygote:
        """Fork the zygote: ``prepare`` runs before this session goes on, then ``warm``;
        ``serve`` runs in each isolated process it forks."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the zygote
            ours.close()
            code = 1
            try:
                _zygote_main(theirs, prepare, warm, serve)
                code = 0
            except BaseException:  # noqa: BLE001 - a zygote never returns into pytest
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        ours.recv(64)  # it has its own capture files: the session may go on
        return cls(ours, pid)

    def spawn(self, group: str) -> _ForkedWorker:
        self.channel.send(b'{"op": "fork"}')
        message, fds, _, _ = socket.recv_fds(self.channel, 1024, 1)
        if not fds:
            raise OSError(f"the zygote gave no isolated process: {message!r}")
        pid = int(json.loads(message)["pid"])
        return _ForkedWorker(group, socket.socket(fileno=fds[0]), pid, self)

    def wait(self, pid: int) -> int | None:
        self.channel.send(json.dumps({"op": "wait", "pid": pid}).encode())
        answer = json.loads(self.channel.recv(1024))
        status = answer.get("status")
        return None if status is None else int(status)

    def close(self) -> None:
        self.channel.close()  # the zygote ends when its channel does
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _zygote_main(
    channel: socket.socket,
    prepare: Callable[[], None],
    warm: Callable[[], None],
    serve: Callable[[socket.socket], None],
) -> None:
    """The zygote's life: get ready, then fork an isolated process per request.

    When the session ends or goes away (its end of ``channel`` closes), isolated processes
    still running end with it: none outlives the session.
    """
    prepare()
    channel.send(b"ready")
    warm()
    statuses: dict[int, int] = {}  # wait status of each ended isolated process
    running: set[int] = set()
    try:
        while True:
            packet = channel.recv(1024)
            if not packet:
                return
            request = json.loads(packet)
            _reap(statuses, running)
            if request["op"] == "fork":
                mine, theirs = socket.socketpair()
                pid = os.fork()
                if pid == 0:  # an isolated process, in a process group of its own
                    os.setpgid(0, 0)
                    channel.close()
                    theirs.close()
                    code = 1
                    try:
                        serve(mine)
                        code = 0
                    finally:
                        os._exit(code)
                try:
                    os.setpgid(pid, pid)  # (also here: whichever runs first)
                except OSError:
                    pass  # it has done so already, or ended
                running.add(pid)
                mine.close()
                socket.send_fds(channel, [json.dumps({"pid": pid}).encode()], [theirs.fileno()])
                theirs.close()
            elif request["op"] == "wait":
                pid = request["pid"]
                if pid not in statuses:
                    try:
                        statuses[pid] = os.waitpid(pid, 0)[1]
                    except ChildProcessError:
                        pass
                    running.discard(pid)
                _end_group(pid)  # what the test started and left running
                channel.send(json.dumps({"status": statuses.pop(pid, None)}).encode())
    finally:
        _end_children(running)


def _end_children(running: set[int]) -> None:
    """Kill and collect the zygote's isolated processes that are still running, and the
    processes they started."""
    for pid in running:
        _end_group(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _end_group(pid: int) -> None:
    """Kill the process group that the isolated process ``pid`` leads: it, and whatever
    it started (a test's subprocesses end with the test)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # every process of it has ended already


def _reap(statuses: dict[int, int], running: set[int]) -> None:
    """Collect the isolated processes that have ended, keeping their wait status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = status
        running.discard(pid)
        _end_group(pid)
