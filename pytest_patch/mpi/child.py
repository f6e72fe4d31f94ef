"""Serial runs: tests that need N > 1 ranks run in one child ``mpiexec -n N`` per N.

Each such test is replaced by a :class:`ChildItem` with the same node id. The first one
to set up starts the child run for every test of the session that needs the same N
(selected by node id), then each item's reports are rebuilt from the files the child's
ranks wrote, so a rank that crashed or hung is still reported with the test it was in.
A child run that had to end early (a crash, a deadlock) leaves the tests it never
started to a new child run, so one broken test does not take the others with it.
In a pytest-xdist worker, a child run holds the tests of the batch that this worker has
been handed and not yet run: the others are another worker's, and its own child run
runs them (each test runs once, not once per worker).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..wire import forwarded_args
from . import faults, reporting
from .launcher import LauncherError, default_launcher
from .markers import is_mpi_test, required_ranks
from .ranklog import ended_path, log_path, read_events, read_stack

#: Set on a test that needs an MPI world of its own (an isolated test, see
#: :mod:`pytest_patch.isolation`): its child run holds it alone.
own_world_key = pytest.StashKey[bool]()


@dataclass
class ChildRun:
    """What one child ``mpiexec`` run left behind: per-rank events and its output."""

    size: int
    returncode: int
    output: str
    events: dict[int, list[dict[str, Any]]]
    stacks: dict[int, str]
    ended: dict[int, str]
    results: dict[tuple[str, str], dict[int, dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rank, events in self.events.items():
            for event in events:
                if event.get("event") == "report":
                    key = (event["nodeid"], event["when"])
                    self.results.setdefault(key, {})[rank] = event

    def finished(self, rank: int) -> bool:
        return any(event.get("event") == "finish" for event in self.events.get(rank, []))

    def started(self, rank: int, nodeid: str) -> bool:
        return any(
            event.get("event") == "test" and event.get("nodeid") == nodeid
            for event in self.events.get(rank, [])
        )

    def started_any(self, nodeid: str) -> bool:
        return any(self.started(rank, nodeid) for rank in range(self.size))

    def ended_early(self) -> bool:
        """Whether the run had to stop before its last test (a crash or a deadlock)."""
        return any(not self.finished(rank) for rank in range(self.size)) or any(
            event.get("event") == "deadlock" for events in self.events.values() for event in events
        )

    def deadlock_notes(self, nodeid: str, when: str) -> dict[int, str]:
        """What the rank that saw a deadlock in this test phase said about each rank."""
        for events in self.events.values():
            for event in events:
                if event.get("event") == "deadlock" and [event["nodeid"], event["when"]] == [
                    nodeid,
                    when,
                ]:
                    return {int(rank): note for rank, note in event.get("notes", {}).items()}
        return {}

    def culprit(self) -> tuple[int, str] | None:
        """The rank that ended the run and how, if it can be told."""
        return faults.ended_the_run(self.events, self.ended, self.size, self.output)

    def aborted(self) -> tuple[int, str, str] | None:
        """The rank that called MPI_Abort, the test and the phase it was in, if one did."""
        return faults.aborted(self.events, self.output)

    def deadlocked(self, nodeid: str, when: str) -> bool:
        return any(
            event.get("event") == "deadlock" and [event["nodeid"], event["when"]] == [nodeid, when]
            for events in self.events.values()
            for event in events
        )


def _queued_in_this_worker(config: pytest.Config) -> set[int] | None:
    """The indices (into the session's items) of the tests pytest-xdist has handed to this
    worker and that it has not started, or ``None`` outside a worker (or with an xdist
    whose worker keeps its queue elsewhere: then a child run holds the whole batch)."""
    if not hasattr(config, "workerinput"):
        return None
    for plugin in config.pluginmanager.get_plugins():
        queue = getattr(plugin, "torun", None)
        if queue is None or not hasattr(queue, "lock") or not hasattr(plugin, "nextitem_index"):
            continue
        with queue.lock() as pending:
            indices = {index for index in pending if isinstance(index, int)}
        following = plugin.nextitem_index
        if isinstance(following, int):
            indices.add(following)
        return indices
    return None


def _read_ended(root: Path) -> dict[int, str]:
    """How each rank ended, as the watcher of the ranks saw it (empty if it could not)."""
    try:
        return {int(rank): how for rank, how in json.loads(ended_path(root).read_text()).items()}
    except (OSError, ValueError):
        return {}


class ChildItem(pytest.Item):
    """Stands in for a test that needs more ranks than this serial run has."""

    def __init__(self, *, original: pytest.Item, runs: ChildRuns, ranks: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.original = original
        self.runs = runs
        self.ranks = ranks
        #: The child run it belongs to: (ranks, its node id if it runs alone, else "").
        self.batch = (ranks, self.nodeid if original.stash.get(own_world_key, False) else "")
        self.own_markers.extend(original.own_markers)
        self.keywords.update(original.keywords)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.original.reportinfo()

    def setup(self) -> None:
        self.runs.run(self.batch, self.nodeid)

    def runtest(self) -> None:
        """The test ran in the child; its outcome is filled in when the report is made."""


class ChildRuns:
    """Replaces tests needing N > 1 ranks by :class:`ChildItem` and runs them in mpiexec.

    ``refusal`` is set when this process itself runs under an MPI launcher: nesting
    mpiexec is not possible, so those tests fail with that message instead.
    """

    def __init__(
        self,
        config: pytest.Config,
        timeout: float,
        refusal: str | None,
        skip: bool = False,
        launcher: list[str] | None = None,
    ) -> None:
        self.config = config
        #: The launcher's command words before ``-n N`` (``None``: find mpiexec).
        self.launcher = launcher
        self.timeout = timeout
        self.refusal = refusal
        #: Whether tests needing N > 1 ranks are skipped (mpi_child_runs = false).
        self.skip = skip
        self.batches: dict[tuple[int, str], list[str]] = {}
        self.items: list[pytest.Item] = []
        #: The child run that ran (or could not run) each test.
        self.run_of: dict[str, ChildRun] = {}
        self._explained: set[str] = set()  # tests whose missing ranks were reported

    def describe(self) -> str:
        """This session's line of the header."""
        if self.skip:
            return (
                "mpi: serial run (1 rank); tests marked mpi are skipped (mpi_child_runs = "
                "false), as pytest-mpi skips them"
            )
        if self.refusal:
            return (
                "mpi: started by an MPI launcher without --with-mpi: every rank runs its own "
                "serial session, tests marked mpi(min_size>1) fail (add --with-mpi)"
            )
        if self.launcher is not None:
            where = f"run in a child `{' '.join(self.launcher)} -n N`"
        else:
            where = "run in a child `mpiexec -n N`"
        return (
            f"mpi: serial run (1 rank); tests marked mpi(min_size=N) with N > 1 {where} "
            f"(--mpi-timeout {self.timeout:g} s)"
        )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.items = items
        for index, item in enumerate(items):
            ranks = required_ranks(item)
            if self.skip and self.refusal and is_mpi_test(item):
                # pytest-mpi's serial behaviour: every test marked mpi is skipped.
                item.add_marker(pytest.mark.skip(reason=self.refusal.format(n=max(ranks, 2))))
                continue
            if ranks <= 1 or self.refusal:
                continue
            assert item.parent is not None
            child = ChildItem.from_parent(
                item.parent, name=item.name, original=item, runs=self, ranks=ranks
            )
            items[index] = child
            self.batches.setdefault(child.batch, []).append(child.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.refusal and not self.skip and required_ranks(item) > 1:
            pytest.fail(self.refusal.format(n=required_ranks(item)), pytrace=False)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Any:
        report = yield
        if isinstance(item, ChildItem) and item.nodeid in self.run_of:
            self._fill(report, self.run_of[item.nodeid])
        return report

    # pytest-timeout's hooks (optional: that plugin may be absent). A child run holds many
    # tests; their per-test limit is applied inside the child, not to the whole run here.
    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item) -> bool | None:
        return True if isinstance(item, ChildItem) else None

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> bool | None:
        return True if isinstance(item, ChildItem) else None

    # -- running the child ---------------------------------------------------------------
    def run(self, batch: tuple[int, str], nodeid: str) -> ChildRun:
        """The child run of ``nodeid``: one ``mpiexec -n size`` for it and every test of
        its ``batch`` (needing ``size`` ranks) that no child run has started yet."""
        if nodeid in self.run_of:
            return self.run_of[nodeid]
        nodeids = [name for name in self.batches[batch] if name not in self.run_of]
        queued = _queued_in_this_worker(self.config)
        if queued is not None:
            here = {self.items[index].nodeid for index in queued if index < len(self.items)}
            nodeids = [name for name in nodeids if name in here or name == nodeid]
        result = self._launch(batch[0], nodeids)
        started = [name for name in nodeids if result.started_any(name)]
        done = nodeids if not started or not result.ended_early() else [*started, nodeid]
        for name in done:
            self.run_of[name] = result
        return result

    def _launch(self, size: int, nodeids: list[str]) -> ChildRun:
        """Run the tests ``nodeids`` in one ``mpiexec -n size``."""
        try:
            launcher = self.launcher or [default_launcher()]
        except LauncherError as error:
            pytest.fail(
                f"This test needs {size} MPI ranks, so pytest-patch runs it with an MPI "
                f"launcher, but: {error}",
                pytrace=False,
            )
        root = Path(tempfile.mkdtemp(prefix=f"pytest-mpi-{size}-"))
        config = self.config
        command = [
            *launcher,
            "-n",
            str(size),
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_patch",
            "--with-mpi",
            f"--basetemp={root}",
            f"--mpi-timeout={self.timeout:g}",
            "-p",
            "no:cacheprovider",
            "--capture=tee-sys",
            "-q",
            f"--rootdir={config.rootpath}",
        ]
        if config.inipath is not None:
            command += ["-c", str(config.inipath)]
        command += forwarded_args(config.invocation_params.args)
        # Node ids are relative to the root directory; arguments to the working directory.
        command += [f"{config.rootpath}{os.sep}{nodeid}" for nodeid in nodeids]
        try:
            done = subprocess.run(
                command,
                cwd=config.invocation_params.dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                check=False,
            )
            events = {rank: read_events(log_path(root, rank)) for rank in range(size)}
            stacks = {rank: read_stack(root, rank) for rank in range(size)}
            ended = _read_ended(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return ChildRun(size, done.returncode, done.stdout, events, stacks, ended)

    # -- reports -------------------------------------------------------------------------
    def _fill(self, report: pytest.TestReport, run: ChildRun) -> None:
        """Make ``report`` the child's combined outcome of this test phase."""
        nodeid, when = report.nodeid, report.when
        records = run.results.get((nodeid, when), {})
        if not records and when == "teardown" and (nodeid, "setup") not in run.results:
            return  # never started: the setup report says why
        report.outcome = "passed"
        report.longrepr = None
        report.sections = []
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        if not records and not any(run.started(rank, nodeid) for rank in range(run.size)):
            report.outcome = "failed"
            report.longrepr = self._not_run(run, nodeid)
            report.sections.append((f"mpiexec -n {run.size} output", run.output))
            return
        aborted = run.aborted()
        if aborted is not None and aborted[1] == nodeid:
            order = ["setup", "call", "teardown"]
            if when == aborted[2]:
                self._aborted(report, run, aborted[0], when)
                return
            if order.index(when) > order.index(aborted[2]):
                return  # after the abort: what a rank logged then means nothing
        ranks: dict[int, Any] = {}
        for rank, event in records.items():
            data = event.get("data")
            ranks[rank] = (
                event["outcome"] if data is None else reporting.deserialize(self.config, data)
            )
        report.duration = max((event["duration"] for event in records.values()), default=0.0)
        notes: dict[int, str] = {}
        unexplained = False  # a rank gave no result and the child run did not say why
        if nodeid not in self._explained:
            notes = run.deadlock_notes(nodeid, when)
            unexplained = not notes
            notes.update(
                (rank, self._why_missing(run, rank, nodeid, when))
                for rank in range(run.size)
                if rank not in records and rank not in notes
            )
            notes = dict(sorted(notes.items()))
        reporting.combine(report, ranks, -1, notes)
        if notes:
            self._explained.add(nodeid)
        if notes and unexplained:
            report.sections.append((f"mpiexec -n {run.size} output", run.output))

    def _aborted(self, report: pytest.TestReport, run: ChildRun, culprit: int, phase: str) -> None:
        """The phase of a test in which ``culprit`` called MPI_Abort: a failure."""
        nodeid = report.nodeid
        notes = faults.called_abort(culprit, nodeid, phase, run.size, run.returncode)
        reporting.combine(report, {}, -1, notes)
        report.sections.append((f"mpiexec -n {run.size} output", run.output))
        self._explained.add(nodeid)

    def _not_run(self, run: ChildRun, nodeid: str) -> str:
        last = [
            event["nodeid"]
            for events in run.events.values()
            for event in events
            if event.get("event") == "test"
        ]
        where = f", during {last[-1]}" if last else " before running any test"
        return (
            f"MPI: not run: the child run `mpiexec -n {run.size} python -m pytest "
            f"--with-mpi` ended early{where} (exit status {run.returncode}); its output "
            "is below."
        )

    def _why_missing(self, run: ChildRun, rank: int, nodeid: str, when: str) -> str:
        if run.deadlocked(nodeid, when) or run.stacks.get(rank):
            return faults.describe_missing(rank, nodeid, when, self.timeout, run.stacks[rank])
        first = None if run.finished(rank) else run.culprit()
        return faults.gave_no_result(
            rank, nodeid, when, run.finished(rank), first, run.size, run.returncode
        )
