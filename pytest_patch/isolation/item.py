"""The item that stands for an isolated test in the session: its phases run in another
process, and the reports it logs are that process's own."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from .. import wire
from ..mpi import reporting
from .processes import Worker

if TYPE_CHECKING:
    from .plugin import Isolation


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
            raise SetupDone("the isolated process's setup did not pass")

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

    def run_in(self, worker: Worker, following: str | None) -> bool:
        """Run the test in ``worker``; fill in its reports, or why one is missing.

        ``following`` is the node id of the next test of the same process, which keeps
        the fixtures both use (``None``: the process ends after this test). Returns
        whether ``worker`` is still running, kept for ``following``.
        """
        worker.send({"run": self.original.nodeid, "next": following})
        while True:
            message = worker.receive()
            if message is None:
                break
            if "report" in message:
                report = reporting.deserialize(self.config, message["report"])
                self.reports[report.when] = report
            elif message.get("done"):
                if following is None:
                    worker.close()
                if "setup" not in self.reports:
                    self.lost["setup"] = (
                        f"pytest-patch: the isolated process did not collect "
                        f"{self.original.nodeid}, so it could not run it."
                    )
                return following is not None
        # The process ended before the test did: the phase it was in gets the reason.
        missing = [when for when in ("setup", "call", "teardown") if when not in self.reports]
        if not missing:
            worker.close()
            return False
        phase = missing[0]
        if phase == "call" and not self.reports["setup"].passed:
            phase = "teardown"
        self.lost[phase] = worker.death(self.original.nodeid, phase)
        return False

    def outcome(self) -> dict[str, Any]:
        """The reports and lost phases, as they travel to the other ranks."""
        reports = {
            when: json.loads(wire.encode(reporting.serialize(self.config, report)))
            for when, report in self.reports.items()
        }
        lost = dict(self.lost)
        if not reports and not lost:
            lost["setup"] = "pytest-patch: rank 0 could not start the isolated process."
        return {"reports": reports, "lost": lost}

    def mirror(self, outcome: dict[str, Any]) -> None:
        """Take rank 0's :meth:`outcome` of this test as this rank's."""
        self.reports = {
            when: reporting.deserialize(self.config, data)
            for when, data in outcome["reports"].items()
        }
        self.lost = outcome["lost"]
        self.mirrored = True


class SetupDone(Exception):
    """The isolated test's setup failed or skipped there; its report says how."""
