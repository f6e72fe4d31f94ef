"""Printed output as a golden: text compared exactly, the numbers in it within tolerances.

Each kept line of output becomes a row: its text with every number replaced by ``#``
(the row's name, with `` #2``, `` #3`` for repeats) and the numbers themselves. The
rows go through the golden machinery as their own kind, ``output`` (readable JSON, one
line per printed line). Lines matching a curation pattern (``nrn_scripts_ignore``:
regular expressions for output that changes from run to run, such as timings or dates)
are dropped, as are blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..regression.golden_check import RTOL, ATOL, Verdict, _Check
from ..regression.golden import Golden
from ..compare.text import round_up

#: A number that is not part of a name (``fig5a``, ``Graph[0]`` keep theirs).
NUMBER = re.compile(r"(?<![A-Za-z_\d.\[])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_\d\]])")
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


def rows(lines: list[str]) -> dict[str, np.ndarray]:
    """``{text with # for numbers: numbers}``, one entry per line, in order."""
    out: dict[str, np.ndarray] = {}
    for line in lines:
        numbers = [float(match) for match in NUMBER.findall(line)]
        key = NUMBER.sub("#", line)
        unique, count = key, 1
        while unique in out:
            count += 1
            unique = f"{key} #{count}"
        out[unique] = np.asarray(numbers, dtype=float)
    return out


def compare(
    expected: dict[str, Any], actual: dict[str, Any], rtol: float, atol: float
) -> list[str]:
    """What differs between golden and actual rows, line by line."""
    lines: list[str] = []
    order = {key: index for index, key in enumerate(expected)}
    missing = [key for key in expected if key not in actual]
    extra = [key for key in actual if key not in expected]
    for key in missing[:10]:
        lines.append(f"golden output line {order[key] + 1} not printed: {_shown(key, expected[key])}")
    for key in extra[:10]:
        lines.append(f"printed but not in the golden: {_shown(key, actual[key])}")
    if len(missing) + len(extra) > 20:
        lines.append(f"({len(missing)} golden lines not printed, {len(extra)} new lines in all)")
    for key in expected:
        if key not in actual:
            continue
        want, got = np.asarray(expected[key], float), np.asarray(actual[key], float)
        if want.shape != got.shape:
            lines.append(f"output line {order[key] + 1} has other numbers: {_shown(key, got)}")
            continue
        error = np.abs(got - want)
        bad = error > atol + rtol * np.abs(want)
        if not np.any(bad):
            continue
        worst = int(np.argmax(np.where(bad, error, -1)))
        relative = error[worst] / abs(want[worst]) if want[worst] else float("inf")
        lines.append(
            f"output line {order[key] + 1}: number {worst + 1} is {got[worst]:.10g}, golden "
            f"{want[worst]:.10g} (abs error {error[worst]:.3g}, rel {relative:.3g}; passes with "
            f"atol={round_up(float(error[worst]))})\n    golden:  {_shown(key, want)}\n"
            f"    printed: {_shown(key, got)}"
        )
    return lines


def _shown(key: str, numbers: Any) -> str:
    """The printed line again: the row's text with its numbers put back."""
    text = re.sub(r" #\d+$", "", key)
    values = iter(np.asarray(numbers, float).ravel())
    return re.sub("#", lambda _: f"{next(values, float('nan')):.10g}", text)


class OutputRegression(_Check):
    """The printed output of a script item compared with its golden ``output`` file."""

    kind = "output"

    def check(self, printed: list[str], *, rtol: float = RTOL, atol: float = ATOL) -> None:
        """Compare the curated printed lines with the golden (serial: scripts run alone)."""
        __tracebackhide__ = True
        actual = rows(printed)

        def decide(parts: list[Any], path: Path) -> Verdict:
            def compared(stored: Golden) -> tuple[str | None, Any]:
                lines = compare(stored.data, actual, rtol, atol)
                return ("\n".join(lines), None) if lines else (None, None)

            return self._decide(path, actual, compared, describe="printed output")

        self._run(None, lambda: actual, decide)


def check_item(item: pytest.Item) -> Any:
    """A stand-in for the fixture request the regression checks take: they need the item."""
    return _Request(item)


class _Request:
    def __init__(self, item: pytest.Item) -> None:
        self.node = item
