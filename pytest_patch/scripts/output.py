"""Printed output as a golden: text compared exactly, the numbers in it within tolerances.

Each kept line of output becomes a row: its text with every number replaced by ``#``
(the row's name, with `` #2``, `` #3`` for repeats) and the numbers themselves. The
rows go through the golden machinery as their own kind, ``output``
(:mod:`pytest_patch.regression.formats.output`: readable JSON, one line per printed
line). Lines matching a curation pattern (``nrn_scripts_ignore``:
regular expressions for output that changes from run to run, such as timings or dates)
are dropped, as are blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from ..regression.formats import Tolerances
from ..regression.formats.output import rows
from ..regression.golden_check import ATOL, RTOL, GoldenCheck

#: Output NEURON itself prints that changes between machines or runs.
DEFAULT_IGNORE = (
    r"^\s*$",
    r"^NEURON -- (VERSION|Release)",
    r"^Duke, Yale, and the BlueBrain",
    r"^See http://neuron\.yale\.edu",
    r"^Additional mechanisms from files",
    r"^\s*\"?[\w./-]+\.mod\"?\s*$",
    r"^loading membrane mechanisms from",
    # What hoc echoes for a top-level statement with a value (``vec.record(...)`` gives
    # "\tVector[3] ", a call "\t1 "): the interpreter's, not the model's output.
    r"^\t\S+ $",
)


def curated(text: str, patterns: Sequence[str]) -> list[str]:
    """The lines of ``text`` that no pattern (a regular expression) matches."""
    compiled = [re.compile(pattern) for pattern in (*DEFAULT_IGNORE, *patterns)]
    return [
        line.rstrip() for line in text.splitlines() if not any(p.search(line) for p in compiled)
    ]


class OutputRegression(GoldenCheck):
    """The printed output of a script item compared with its golden ``output`` file."""

    kind = "output"
    fixture = "output_regression"

    def check(self, printed: list[str], *, rtol: float = RTOL, atol: float = ATOL) -> None:
        """Compare the curated printed lines with the golden (serial: scripts run alone)."""
        __tracebackhide__ = True
        actual = rows(printed)
        self._check(
            None, lambda: actual, lambda parts: parts[0], lambda: Tolerances(rtol=rtol, atol=atol)
        )


def check_item(item: pytest.Item) -> Any:
    """A stand-in for the fixture request the regression checks take: they need the item."""
    return _Request(item)


class _Request:
    def __init__(self, item: pytest.Item) -> None:
        self.node = item
