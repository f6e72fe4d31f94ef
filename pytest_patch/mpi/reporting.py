"""One test report out of every rank's: a failure or skip anywhere is the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from _pytest._code.code import (
    ExceptionChainRepr,
    ExceptionRepr,
    ReprEntryNative,
    ReprFileLocation,
    ReprTraceback,
)

from .faults import rank_label

#: Width of the rank headings once a report has left this process (pytest-xdist, child
#: runs): pytest rebuilds the body from plain parts there and cannot know the terminal.
_HEADING_WIDTH = 80

# One exception of a chain, as pytest's ExceptionChainRepr holds it.
_Link = tuple[ReprTraceback, "ReprFileLocation | None", "str | None"]


class RankCrash(ReprFileLocation):
    """Where the first failing rank failed, naming the failing ranks.

    This is what ``-r`` summaries and junit show; it travels like pytest's own crash
    location (pytest-xdist), so the rank is still named after the trip.
    """

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}" if self.path else self.message


class RankFailures(ExceptionChainRepr):
    """A failed test's report body: each failing rank's traceback under a rank heading.

    ``failures`` pairs a rank with its own report body; ``notes`` explain ranks that gave
    no result at all (hung or died); together they name at least one rank.

    The body is one of pytest's own exception chains, so that pytest's report
    serialization (pytest-xdist, ``--report-log``) keeps it: one link per rank (more when
    that rank's exception was chained), each traceback opening with the rank's heading,
    and the last link's crash location (``reprcrash``, what ``-r`` shows) naming the
    failing ranks.
    """

    def __init__(self, failures: list[tuple[int, Any]], notes: dict[int, str]) -> None:
        self.titles: list[str | None] = []  # the rank heading each link opens with
        chain: list[_Link] = []
        sections: list[tuple[str, str, str]] = []  # pytest core adds none; plugins may
        for rank, body in failures:
            links = _links(body)
            chain += _headed(links, rank)
            self.titles += [f"rank {rank}"] + [None] * (len(links) - 1)
            if isinstance(body, ExceptionRepr):
                sections += [(f"{t} [rank {rank}]", text, sep) for t, text, sep in body.sections]
        for rank, note in notes.items():
            chain += _headed(_links(note), rank)
            self.titles.append(f"rank {rank}")
        last, _, description = chain[-1]
        chain[-1] = (last, _crash(failures, notes), description)
        super().__init__(chain)
        self.sections.extend(sections)

    def toterminal(self, tw: Any) -> None:
        """Rank headings as wide as the terminal, then what each rank reported."""
        for title, (reprtraceback, _, description) in zip(self.titles, self.chain, strict=False):
            if title is not None:
                tw.sep("-", title)
                reprtraceback = ReprTraceback(
                    reprtraceback.reprentries[1:], reprtraceback.extraline, reprtraceback.style
                )
            reprtraceback.toterminal(tw)
            if description is not None:
                tw.line("")
                tw.line(description, yellow=True)
        ExceptionRepr.toterminal(self, tw)


def _links(body: Any) -> list[_Link]:
    """A rank's report body as links of an exception chain (text becomes one entry)."""
    chain = getattr(body, "chain", None)
    if isinstance(body, ExceptionRepr) and chain:
        return list(chain)
    if isinstance(body, ExceptionRepr):
        return [(body.reprtraceback, body.reprcrash, None)]
    text = "" if body is None else str(body).rstrip("\n")
    lines = text.strip().splitlines() or [""]
    entries = [ReprEntryNative([text + "\n"])] if text else []
    return [(ReprTraceback(entries, None, "native"), RankCrash("", 0, lines[-1]), None)]


def _headed(links: Sequence[_Link], rank: int) -> list[_Link]:
    """``links`` with the rank's heading as the first entry of the first traceback."""
    heading = ReprEntryNative([f"{f' rank {rank} ':-^{_HEADING_WIDTH}}\n"])
    first, crash, description = links[0]
    opened = ReprTraceback([heading, *first.reprentries], first.extraline, first.style)
    return [(opened, crash, description), *links[1:]]


def _crash(failures: list[tuple[int, Any]], notes: dict[int, str]) -> RankCrash:
    """The first failing rank's crash location, its message naming every failing rank."""
    label = rank_label(sorted({rank for rank, _ in failures} | set(notes)))
    for _, body in failures:
        crash = getattr(body, "reprcrash", None)
        if crash is not None:
            return RankCrash(crash.path, crash.lineno, f"[{label}] {crash.message}")
    if failures:
        first = str(failures[0][1]).strip().splitlines() or [""]
        return RankCrash("", 0, f"[{label}] {first[-1]}")
    first_note = next(iter(notes.values())).splitlines() or [""]
    return RankCrash("", 0, f"[{label}] {first_note[0]}")


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
        report.longrepr = RankFailures(failures, notes)
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
