"""The plugin for a run under ``mpiexec -n N pytest --with-mpi``: one outcome per test.

Every test phase (setup, call, teardown) ends with an exchange over all ranks, so each
rank continues with the same combined outcome; rank 0 alone prints and writes junit XML.
Results are also appended to per-rank files so a crash or hang can be explained. This
module gathers and combines; what went wrong (ranks out of step, unbalanced collectives,
a rank that never arrived or waits in a collective the others left) is decided in
:mod:`.faults`.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

import patch

from . import faults, monitor, reporting, shm, watchdog
from .exchange import Exchange, abort_and_wait
from .ranklog import RankLog, log_path

# Finished sessions of one user kept under the temporary directory without --basetemp; a
# session whose rank 0 has not written for an hour counts as finished.
_KEEP_SESSIONS = 3
_STALE_SECONDS = 3600.0
# How long a rank that saw a deadlock waits for the reporting rank to end the run.
_ABORT_GRACE_SECONDS = 20.0
# How many of the tests that did not run the report names one by one.
_NOT_RUN_SHOWN = 20


def _fresh_root(config: pytest.Config) -> Path:
    """A new shared directory for this session (run on rank 0 only)."""
    given = config.option.basetemp
    if given:
        root = Path(given).resolve()
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root
    parent = Path(tempfile.gettempdir(), f"pytest-mpi-of-{getpass.getuser()}")
    parent.mkdir(mode=0o700, exist_ok=True)
    old = sorted(parent.glob("session-*"), key=_last_written)
    for path in old[: max(0, len(old) - _KEEP_SESSIONS + 1)]:
        if time.time() - _last_written(path) > _STALE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="session-", dir=parent))


def _last_written(session: Path) -> float:
    """When a session last wrote; 0 for one that is gone (another session that started
    at the same time may be removing it)."""
    for path in (log_path(session, 0), session):
        try:
            return path.stat().st_mtime
        except OSError:
            pass
    return 0.0


class MPISession:
    """Hooks that make N ranks behave as one pytest session."""

    def __init__(self, config: pytest.Config, comm: Any, timeout: float) -> None:
        self.config = config
        self.exchange = Exchange(comm, timeout)
        self.rank = self.exchange.rank
        self.size = self.exchange.size
        self.timeout = timeout
        self.host = socket.gethostname()
        root = str(_fresh_root(config)) if self.rank == 0 else None
        setup = self.exchange.allgather(
            (root, os.getpid(), self.host, threading.main_thread().ident)
        )
        if setup is None:
            raise pytest.UsageError(
                f"Not every MPI rank reached pytest's configuration within {timeout:g} s; "
                "check that each rank can import the test suite, or raise --mpi-timeout."
            )
        self.root = Path(setup[0][0])
        self.peers = [(pid, host) for _, pid, host, _ in setup]
        #: Each rank's main thread, to find it in a dump of the rank's stacks.
        self.threads = [thread for _, _, _, thread in setup]
        self.log = RankLog(self.root, self.rank)
        self.log.write("start", pid=os.getpid(), host=self.host, size=self.size)
        self._current = ""  # the test this rank is in, for the record of an MPI_Abort
        _watch_aborts(self)
        self._unwatch_exits = _watch_exits(self)
        self._stack_file = watchdog.arm_stack_dump(self.root, self.rank)
        if self.rank == 0 and sys.platform.startswith("linux"):  # needs /proc to see zombies
            self._start_monitor()
        # Broken: a rank did not arrive; from then on no rank exchanges anything.
        self.broken: str | None = None
        self._deadlock_report: pytest.TestReport | None = None
        self._not_run: list[str] = []  # the tests left when the run had to end
        self.reporter = self.rank == 0
        self.exitstatus = 0
        # Whether the ranks have met at the end of pytest's configuration, and the usage
        # errors (of any rank) that then stopped the session on every rank.
        self._settled = False
        self.usage_errors: list[str] = []
        self._collect_errors: list[Any] = []
        self._replaying = False  # while showing other ranks' collection errors here
        config.option.basetemp = str(self.root / f"rank-{self.rank}")
        if self.rank:
            config.option.xmlpath = None

    def _start_monitor(self) -> None:
        """Start the watcher that reports ranks that die (see :mod:`.monitor`)."""
        pids = [str(pid if host == self.host else 0) for pid, host in self.peers]
        script = Path(__file__).with_name("monitor.py")
        found = monitor.launcher(os.getpid())
        given = [f"--launcher={found[0]}:{found[1]}"] if found else []
        shared = shm.segments([os.getpid()])  # the run's, which rank 0 maps like every rank
        given += [f"--shared={os.pathsep.join(sorted(shared))}"] if shared else []
        try:
            subprocess.Popen(
                [sys.executable, str(script), *given, str(self.root), *pids],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=[found[1]] if found else [],
            )
        except OSError:
            pass  # no report of dead ranks; everything else still works
        finally:
            if found:
                os.close(found[1])

    # -- header -------------------------------------------------------------------------
    def describe(self) -> str:
        """This session's line of the header."""
        return (
            f"mpi: {self.size} ranks (mpiexec), --mpi-timeout {self.timeout:g} s, "
            f"rank files and temporary directories in {self.root}"
        )

    # -- the end of configuration: every rank starts the session, or none does ----------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        errors = self._settle(None)
        if errors:
            raise pytest.UsageError(*errors)

    def _settle(self, problem: str | None) -> list[str]:
        """Meet every rank at the end of pytest's configuration; the errors to report.

        ``problem`` is ``None`` on a rank about to start the session, else why this rank
        ends before it (:func:`stop_reason`). A usage error on any rank is then a usage
        error on every rank, each rank records that it finished (so the watcher of the
        ranks does not take the run for a crash), and rank 0 alone prints the errors.
        """
        self._settled = True
        gathered = self.exchange.allgather(problem)
        if gathered is None:
            self.broken = (
                f"not every MPI rank finished pytest's configuration within {self.timeout:g} s"
            )
            errors = [f"{self.broken}; raise --mpi-timeout if configuring takes longer."]
        else:
            errors = configuration_errors(gathered)
        self.usage_errors = errors
        if errors or problem is not None:
            self.exitstatus = int(pytest.ExitCode.USAGE_ERROR if errors else pytest.ExitCode.OK)
            self.log.write("finish", exitstatus=self.exitstatus, usage_errors=errors)
        return errors

    # -- collection: every rank must run the same tests ---------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and not self._replaying:
            self._collect_errors.append(reporting.serialize(self.config, report))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        nodeids = [item.nodeid for item in session.items]
        if self.rank == 0:  # what to list as not run when the run ends early
            xml = getattr(self.config.option, "xmlpath", None)
            self.log.write("collected", nodeids=nodeids, junitxml=xml and str(Path(xml).resolve()))
        gathered = self.exchange.allgather((nodeids, self._collect_errors))
        if gathered is None:
            self.broken = f"not every rank finished collecting within {self.timeout:g} s"
            self._collection_error(session, self.broken)
            return
        shown = {data["nodeid"] for data in self._collect_errors}
        self._replaying = True
        for rank, (_, errors) in enumerate(gathered):
            for data in errors:
                if rank == self.rank or data["nodeid"] in shown:
                    continue
                shown.add(data["nodeid"])
                report = reporting.deserialize(self.config, data)
                report.longrepr = reporting.RankFailures([(rank, report.longrepr)], {})
                session.config.hook.pytest_collectreport(report=report)
        self._replaying = False
        differing = [rank for rank, (ids, _) in enumerate(gathered) if ids != nodeids]
        if differing and not gathered_errors(gathered):
            self._collection_error(
                session,
                f"rank {self.rank} collected {len(nodeids)} tests but rank(s) {differing} "
                "collected other tests; every rank must collect the same tests in the same "
                "order (check for rank-dependent parametrization or skips at import).",
            )

    def _collection_error(self, session: pytest.Session, message: str) -> None:
        report = pytest.CollectReport("", "failed", f"MPI: {message}", [])
        self._replaying = True
        session.config.hook.pytest_collectreport(report=report)
        self._replaying = False

    # -- running: one outcome per phase --------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._current = nodeid
        self.log.write("test", nodeid=nodeid)

    def exiting(self, status: int) -> None:
        """Record that this rank ends itself with ``os._exit`` (the watcher of the ranks
        names it even when it cannot see which rank ended first)."""
        try:
            self.log.write("exit", nodeid=self._current, status=status)
        except (OSError, ValueError):
            pass  # the session's files are gone (pytest's last steps)

    def aborting(self, errorcode: int) -> None:
        """Record that this rank calls MPI_Abort (the watcher of the ranks names it)."""
        try:
            self.log.write("abort", nodeid=self._current, errorcode=errorcode)
        except OSError:
            pass  # the session's files are gone (pytest's last steps)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Any:
        report = yield
        if self.broken is None:
            self._agree(item, report)
        return report

    def _agree(self, item: pytest.Item, report: pytest.TestReport) -> None:
        plain = report.passed and not hasattr(report, "wasxfail")
        details = None if plain else reporting.serialize(self.config, report)
        label = [report.nodeid, report.when]
        self.log.write(
            "report",
            nodeid=report.nodeid,
            when=report.when,
            outcome=report.outcome,
            duration=report.duration,
            data=details,
        )
        # At the end of a test, each rank's count of Patch's collectives tells whether
        # one left the test before a collective that the others completed.
        entered = patch.p.parallel.collectives_entered if report.when == "teardown" else None
        stuck = watchdog.StuckRanks(
            self.root, self.rank, self.peers, self.threads, self.host, *label
        )
        if not self.exchange.meet(stuck):
            if stuck.calls:
                self._blocked(item, report, stuck)
            else:
                self._deadlock(item, report)
            return
        gathered = self.exchange.gather((label, report.outcome, details, entered))
        phases = [faults.PhaseEnd(*their) for their in gathered]
        found = faults.at_phase_end(phases, self.rank)
        notes = found.notes
        if found.resynchronize:  # every rank found the same: all take part
            patch.p.parallel.resynchronize()
        ranks: dict[int, Any] = {}
        for rank, phase in enumerate(phases):
            if rank == self.rank:
                ranks[rank] = report
            elif not (found.stop and rank in notes):
                data = phase.data
                ranks[rank] = (
                    phase.outcome if data is None else reporting.deserialize(self.config, data)
                )
        if self.rank in notes:
            self._log_verdict(report, notes[self.rank])
        reporting.combine(report, ranks, self.rank, notes)
        if found.stop:
            self._stop(item, found.stop)

    def _log_verdict(self, report: pytest.TestReport, note: str) -> None:
        """Log a failure found only in the exchange in this rank's file too, so that a
        child run, which reads these files, reports what this run reports."""
        mine = pytest.TestReport(
            report.nodeid,
            report.location,
            dict(report.keywords),
            "failed",
            note,
            report.when,
            list(report.sections),
            report.duration,
        )
        self.log.write(
            "report",
            nodeid=report.nodeid,
            when=report.when,
            outcome="failed",
            duration=report.duration,
            data=reporting.serialize(self.config, mine),
        )

    def _deadlock(self, item: pytest.Item, report: pytest.TestReport) -> None:
        nodeid, when = report.nodeid, report.when
        missing = watchdog.missing_ranks(self.root, self.size, nodeid, when)
        missing = [rank for rank in missing if rank != self.rank] or [
            rank for rank in range(self.size) if rank != self.rank
        ]
        survivors = [rank for rank in range(self.size) if rank not in missing]
        self.reporter = self.rank == min(survivors)
        stacks = {}
        if self.reporter:
            stacks = watchdog.collect_stacks(self.root, missing, self.peers, self.host)
        hosts = [host for _, host in self.peers]
        notes = faults.never_arrived(missing, nodeid, when, self.timeout, stacks, hosts)
        reporting.combine(report, {self.rank: report}, self.rank, notes)
        self.log.write("deadlock", nodeid=nodeid, when=when, missing=missing, notes=notes)
        ranks = ", ".join(map(str, missing))
        self._stop(item, f"MPI deadlock in {nodeid} ({when}): rank(s) {ranks} never arrived")
        self._deadlock_report = report

    def _blocked(
        self, item: pytest.Item, report: pytest.TestReport, stuck: watchdog.StuckRanks
    ) -> None:
        """End the run: the missing ranks wait in a collective that this rank (and any
        other that arrived) left; report what each rank did."""
        nodeid, when = report.nodeid, report.when
        missing = sorted(stuck.calls)
        left = [rank for rank in range(self.size) if rank not in missing]
        ranks: dict[int, Any] = {self.rank: report}
        for rank in left:
            event = watchdog.result(self.root, rank, nodeid, when) if rank != self.rank else None
            if event is not None:
                data = event.get("data")
                ranks[rank] = (
                    event["outcome"] if data is None else reporting.deserialize(self.config, data)
                )
        notes = faults.blocked(
            ranks, missing, stuck.calls, stuck.stacks, self.threads, nodeid, when
        )
        self.reporter = True
        reporting.combine(report, ranks, self.rank, notes)
        self.log.write("deadlock", nodeid=nodeid, when=when, missing=missing, notes=notes)
        waiting = ", ".join(map(str, missing))
        self._stop(
            item,
            f"MPI deadlock in {nodeid} ({when}): rank(s) {waiting} wait in a collective "
            f"that rank(s) {', '.join(map(str, left))} left",
        )
        self._deadlock_report = report

    def _stop(self, item: pytest.Item, reason: str) -> None:
        self.broken = reason
        item.session.shouldfail = reason
        items = item.session.items
        if item in items:
            self._not_run = [later.nodeid for later in items[items.index(item) + 1 :]]

    def not_run(self) -> str:
        """The tests the run had to leave out, for the end of the report."""
        if not self._not_run:
            return ""
        shown = self._not_run[:_NOT_RUN_SHOWN]
        more = len(self._not_run) - len(shown)
        lines = [f"MPI: {len(self._not_run)} test(s) did not run because the run had to end:"]
        lines += [f"  {nodeid}" for nodeid in shown]
        if more:
            lines.append(f"  ... and {more} more")
        return "\n".join(lines)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        text = self.not_run() if self.broken and self.reporter else ""
        if text:
            terminalreporter.write_sep("=", "tests that did not run", yellow=True)
            terminalreporter.write_line(text)

    # -- the end -------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        self.log.write("finish", exitstatus=self.exitstatus, broken=self.broken)
        if self.broken and self.reporter and self.rank != 0:
            # Rank 0 is stuck, so its terminal cannot show the report: this rank does.
            report = self._deadlock_report
            body = str(report.longrepr) if report is not None else ""
            sys.stdout.write(
                f"\n{'=' * 78}\npytest-patch: {self.broken}\n{body}\n{self.not_run()}\n"
            )
            sys.stdout.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        if not self._settled:
            # pytest ends during its configuration: a usage error, --help, --markers, ...
            # pytest unconfigures in a `finally:`, so an error that ends it is in flight.
            self._settle(stop_reason(sys.exc_info()[1]))
        watchdog.disarm_stack_dump(self._stack_file)
        self._unwatch_exits()
        self.log.close()
        if not self.broken:
            return
        for message in self.usage_errors:  # pytest would print them after the abort
            sys.stderr.write(f"ERROR: {message}\n\n")
        # A rank still stuck in a collective would block MPI_Finalize forever: end them all.
        sys.stdout.flush()
        sys.stderr.flush()
        if not self.reporter:
            time.sleep(_ABORT_GRACE_SECONDS)
        self.exchange.abort(self.exitstatus or 1)


#: Why a rank ends before the session starts without a usage error of its own (pytest's
#: ``--help`` or ``--markers`` on every rank, or an internal error on this one).
ENDED = "pytest ended on this rank before the test session started; its output says why."


def stop_reason(error: BaseException | None) -> str:
    """Why a rank ends during pytest's configuration, given the exception that ends it."""
    if isinstance(error, pytest.UsageError):
        return "\n".join(map(str, error.args))
    return ENDED


def configuration_errors(problems: list[str | None]) -> list[str]:
    """The usage errors to report, from each rank's problem at the end of configuration.

    Nothing when every rank starts the session, or every rank just ends (``--help``);
    a message that every rank has is reported as it is, others name their ranks.
    """
    if all(problem is None for problem in problems) or all(p == ENDED for p in problems):
        return []
    ranks: dict[str, list[int]] = {}
    for rank, problem in enumerate(problems):
        if problem is not None:
            ranks.setdefault(problem, []).append(rank)
    if len(ranks) == 1 and not any(problem is None for problem in problems):
        return list(ranks)
    return [f"[{faults.rank_label(who)}] {message}" for message, who in ranks.items()]


def _watch_aborts(session: MPISession) -> None:
    """Make ``MPI.COMM_WORLD.Abort`` record the test it ends in this rank's event file.

    mpi4py's own ``COMM_WORLD`` is replaced by a copy of the same communicator (the same
    handle) whose ``Abort`` writes that record first; everything else about it is the same.
    """
    mpi = sys.modules.get("mpi4py.MPI")  # loaded: this session runs on its world
    world: Any = getattr(mpi, "COMM_WORLD", None)
    if world is None:
        return
    if getattr(world, "patch_session", None) is not None:
        world.patch_session = session
        return
    base = type(world)

    def abort(self: Any, errorcode: int = 0) -> NoReturn:
        if self.patch_session is not None:
            self.patch_session.aborting(errorcode)
        abort_and_wait(super(recorded_type, self), errorcode)

    recorded_type = type(
        "World", (base,), {"Abort": abort, "patch_session": None, "__doc__": base.__doc__}
    )
    recorded = recorded_type(world)
    recorded.patch_session = session
    setattr(mpi, "COMM_WORLD", recorded)  # noqa: B010 - a Final name in the stubs


def _watch_exits(session: MPISession) -> Callable[[], None]:
    """Make ``os._exit`` in this rank (not in a process it forks) record that it was called,
    until the returned function puts the real one back (the session's end).

    A rank that ends itself this way leaves no other trace: the launcher then kills the
    others, and on a loaded machine the watcher may see them all gone at once.
    """
    real: Callable[..., NoReturn] = getattr(os._exit, "patch_real", os._exit)
    pid = os.getpid()

    def _exit(status: int) -> NoReturn:
        if os.getpid() == pid:
            session.exiting(status)
        real(status)

    _exit.patch_real = real  # type: ignore[attr-defined]
    os._exit = _exit

    def unwatch() -> None:
        if os._exit is _exit:  # not replaced since by someone else
            os._exit = real

    return unwatch


def gathered_errors(gathered: list[Any]) -> bool:
    """Whether any rank had collection errors (which explain differing test lists)."""
    return any(errors for _, errors in gathered)
