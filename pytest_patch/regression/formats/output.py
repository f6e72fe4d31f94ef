"""Golden printed output (``.output.json``): one row per printed line, its text with every
number replaced by ``#`` (the row's name, with `` #2``, `` #3`` for repeats) and the
numbers themselves; the text compared exactly, the numbers within ``rtol``/``atol``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ...compare.text import round_up
from . import text
from .protocol import Golden, Outcome, Tolerances

#: A number that is not part of a name (``fig5a``, ``Graph[0]`` keep theirs).
NUMBER = re.compile(
    r"(?<![A-Za-z_\d.\[])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_\d\]])"
)


class OutputKind:
    name = "output"
    suffix = ".json"
    what = "printed output"

    def read(self, path: Path) -> Golden:
        return text.read_number_lists(path, "output", "output line")

    def write(self, header: dict[str, Any], data: dict[str, np.ndarray]) -> bytes:
        return text.write(header, "output", data)

    def fingerprint(self, data: dict[str, np.ndarray]) -> Any:
        return None

    def stored_fingerprint(self, path: Path) -> Any:
        return None

    def compare(
        self, stored: Golden, data: dict[str, np.ndarray], tolerances: Tolerances
    ) -> Outcome:
        lines = compare(stored.data, data, tolerances.rtol, tolerances.atol)
        return Outcome("\n".join(lines)) if lines else Outcome()

    def spread(self, stored: Golden, data: dict[str, np.ndarray]) -> dict[str, Any]:
        return {}  # script items are not calibrated

    def plot(self, path: Path, title: str, drawing: Any) -> Path:
        raise NotImplementedError("output checks draw no picture")


KIND = OutputKind()


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
        lines.append(
            f"golden output line {order[key] + 1} not printed: {_shown(key, expected[key])}"
        )
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
    text_ = re.sub(r" #\d+$", "", key)
    values = iter(np.asarray(numbers, float).ravel())
    return re.sub("#", lambda _: f"{next(values, float('nan')):.10g}", text_)
