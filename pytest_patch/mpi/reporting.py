"""One test report out of every rank's: a failure or skip anywhere is the outcome."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class RankCrash:
    """Where the first failing rank failed (what ``-r`` summaries and junit show)."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}" if self.path else self.message


class RankFailures:
    """A failed test's report body: each failing rank's traceback under a rank heading.

    ``failures`` pairs a rank with its own report body; ``notes`` explain ranks that gave
    no result at all (hung or died).
    """

    def __init__(self, failures: list[tuple[int, Any]], notes: dict[int, str]) -> None:
        self.failures = failures
        self.notes = notes
        self.reprcrash = self._crash()

    def _crash(self) -> RankCrash:
        ranks = sorted({rank for rank, _ in self.failures} | set(self.notes))
        label = f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {', '.join(map(str, ranks))}"
        for rank, body in self.failures:
            crash = getattr(body, "reprcrash", None)
            if crash is not None:
                return RankCrash(crash.path, crash.lineno, f"[{label}] {crash.message}")
        if self.failures:
            first = str(self.failures[0][1]).strip().splitlines() or [""]
            return RankCrash("", 0, f"[{label}] {first[-1]}")
        first_note = next(iter(self.notes.values())).splitlines()[0]
        return RankCrash("", 0, f"[{label}] {first_note}")

    def toterminal(self, tw: Any) -> None:
        for rank, body in self.failures:
            tw.sep("-", f"rank {rank}")
            if hasattr(body, "toterminal"):
                body.toterminal(tw)
            else:
                tw.line(str(body))
        for rank, note in self.notes.items():
            tw.sep("-", f"rank {rank}")
            tw.line(note)

    def __str__(self) -> str:
        out = io.StringIO()
        for rank, body in self.failures:
            out.write(f"{f' rank {rank} ':_^60}\n{body}\n")
        for rank, note in self.notes.items():
            out.write(f"{f' rank {rank} ':_^60}\n{note}\n")
        return out.getvalue()


def _ranked(sections: list[tuple[str, str]], rank: int) -> list[tuple[str, str]]:
    return [(f"{title} [rank {rank}]", content) for title, content in sections]


def _skip_body(body: Any, rank: int, local: int) -> Any:
    if isinstance(body, (tuple, list)) and len(body) == 3:
        path, lineno, reason = body
        return (path, lineno, reason if rank == local else f"[rank {rank}] {reason}")
    return body


def combine(
    report: pytest.TestReport,
    ranks: dict[int, pytest.TestReport | str],
    local: int,
    notes: dict[int, str] | None = None,
) -> pytest.TestReport:
    """Turn ``report`` (this rank's) into the outcome of the test phase over all ranks.

    ``ranks`` maps each rank that gave a result to its report, or to its outcome string
    when it passed and sent no details; ``notes`` explains ranks with no result. A
    failure on any rank or a missing rank fails the phase, else a skip anywhere skips it.
    """
    notes = notes or {}
    outcomes = {rank: getattr(value, "outcome", value) for rank, value in ranks.items()}
    failed = sorted(rank for rank, outcome in outcomes.items() if outcome == "failed")
    if failed or notes:
        sections = _ranked(list(report.sections), local) if report.sections else []
        failures = []
        for rank in failed:
            detail = ranks[rank]
            failures.append((rank, getattr(detail, "longrepr", None)))
            if rank != local and not isinstance(detail, str):
                sections += _ranked(list(detail.sections), rank)
        report.outcome = "failed"
        report.longrepr = RankFailures(failures, notes)  # type: ignore[assignment] # a TerminalRepr by its toterminal()
        report.sections = sections
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        return report
    skipped = sorted(rank for rank, outcome in outcomes.items() if outcome == "skipped")
    if skipped and report.outcome != "skipped":
        rank = skipped[0]
        detail = ranks[rank]
        report.outcome = "skipped"
        report.longrepr = _skip_body(getattr(detail, "longrepr", None), rank, local)
        wasxfail = getattr(detail, "wasxfail", None)
        if wasxfail is not None:
            report.wasxfail = wasxfail
    elif not skipped:
        for detail in ranks.values():
            wasxfail = getattr(detail, "wasxfail", None)
            if wasxfail is not None:
                report.wasxfail = wasxfail
    return report


def serialize(config: pytest.Config, report: pytest.TestReport | pytest.CollectReport) -> Any:
    """A JSON-compatible form of a report (pytest's own, as pytest-xdist uses)."""
    return config.hook.pytest_report_to_serializable(config=config, report=report)


def deserialize(config: pytest.Config, data: Any) -> Any:
    """The report back from :func:`serialize`."""
    report = config.hook.pytest_report_from_serializable(config=config, data=data)
    if isinstance(report.longrepr, list):  # a skip location, turned into a list by JSON
        report.longrepr = tuple(report.longrepr)
    return report
