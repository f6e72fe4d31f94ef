"""What rank 0 decides for one check, step by step: compare with the golden, write a
missing one, regenerate a changed or unusable one (``--nrn-regen``), measure a perturbed
run (``--nrn-calibrate``), draw a failure."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import patch

from . import golden, plots
from .formats import Golden, GoldenError, Kind, Outcome, Tolerances
from .session import Regression


@dataclass
class Verdict:
    """Rank 0's decision, sent to every rank."""

    failure: str | None = None
    error: tuple[str, str] | None = None  # (builtin exception name, message)
    written: str | None = None
    #: A golden that was missing and is now written: the test fails when it ends.
    missing: str | None = None
    warning: str | None = None
    files: list[str] = field(default_factory=list)
    artifact: str | None = None
    measured: dict[str, Any] = field(default_factory=dict)


def error_verdict(kind: str, message: str) -> Verdict:
    """The verdict of a check that raised ``kind`` (a builtin's name) with ``message``."""
    return Verdict(error=(kind, message))


class Decision:
    """One check of one test, decided on rank 0: ``kind`` data of ``item`` (its check
    called ``name``, or the test's only check of the kind when ``None``)."""

    def __init__(
        self, regression: Regression, item: pytest.Item, kind: Kind, name: str | None
    ) -> None:
        self.regression = regression
        self.item = item
        self.kind = kind
        self.name = name

    def decide(self, path: Path, data: Any, tolerances: Tolerances) -> Verdict:
        """Compare ``data`` with the golden at ``path``; write it when missing or regenerating."""
        regression, shown = self.regression, self.regression.show(path)
        if regression.calibration.active and regression.calibration.perturbation(self.item):
            return self.measure(path, data)
        self.remove_leftovers(path)
        if not path.exists():
            return self.write_missing(path, data)
        fingerprint = self.kind.fingerprint(data)
        if fingerprint is not None and self.kind.stored_fingerprint(path) == fingerprint:
            return Verdict(files=[shown])  # bit-identical to the golden: nothing to compare
        try:
            stored = golden.read(path, self.kind.name)
        except GoldenError as error:
            if regression.regen:
                return self.regenerate(path, data, {}, f"which was unusable: {error}")
            return Verdict(
                failure=f"{error}\nRepair or delete it, or rewrite it with --nrn-regen.",
                files=[shown],
            )
        outcome = self.kind.compare(stored, data, tolerances)
        if outcome.problem is None:
            return Verdict(files=[shown])
        if regression.regen:
            return self.regenerate(path, data, stored.tolerances)
        return self.failure(path, outcome)

    # -- the steps ---------------------------------------------------------------------
    def remove_leftovers(self, path: Path) -> None:
        """Remove what writes of ``path`` that were killed midway left beside it."""
        stale = golden.leftovers(path)
        for leftover in stale:
            leftover.unlink(missing_ok=True)
        if stale:
            names = ", ".join(self.regression.show(leftover) for leftover in stale)
            warnings.warn(
                f"removed what killed writes of {self.regression.show(path)} left: {names}",
                stacklevel=6,
            )

    def write_missing(self, path: Path, data: Any) -> Verdict:
        """A golden that did not exist: written; the test fails unless regenerating."""
        shown = self.regression.show(self.write(path, data, {}))
        message = f"no golden {self.kind.what} for {self.item.name}: wrote {shown}"
        if self.regression.regen:
            return Verdict(written=shown, warning=f"{message} (--nrn-regen)", files=[shown])
        return Verdict(missing=shown, written=shown, files=[shown])

    def regenerate(
        self,
        path: Path,
        data: Any,
        tolerances: dict[str, dict[str, float]],
        unusable: str | None = None,
    ) -> Verdict:
        """``--nrn-regen``: the golden rewritten with this run's data, keeping ``tolerances``."""
        shown = self.regression.show(self.write(path, data, tolerances))
        if unusable is not None:
            warning = f"rewrote {shown}, {unusable}"
        else:
            warning = f"{self.kind.what} of {self.item.name} changed: rewrote {shown} (--nrn-regen)"
        return Verdict(written=shown, warning=warning, files=[shown])

    def write(self, path: Path, data: Any, tolerances: dict[str, dict[str, float]]) -> Path:
        """Write ``data`` where the golden read at ``path`` belongs; return where."""
        content = Golden(self.kind.name, data, made_by(), tolerances)
        if path.is_dir():
            raise ValueError(
                f"cannot write the golden file {self.regression.show(path)}: a folder has "
                "its name; move or delete that folder"
            )
        path = self.regression.write_path(path)
        try:
            golden.write(path, content)
        except OSError as error:
            raise ValueError(
                f"cannot write the golden file {self.regression.show(path)}: "
                f"{error.strerror or error}; "
                "make its folder writable"
            ) from None
        return path

    def measure(self, path: Path, data: Any) -> Verdict:
        """Under a calibration perturbation: how far this run is from the golden."""
        shown = self.regression.show(path)
        if not path.exists():
            return Verdict(files=[shown])
        try:
            stored = golden.read(path, self.kind.name)
        except GoldenError as error:
            return Verdict(failure=str(error), files=[shown])
        return Verdict(files=[shown], measured=self.kind.spread(stored, data))

    def failure(self, path: Path, outcome: Outcome) -> Verdict:
        """The failure of a run that differs from its golden, with its picture."""
        shown = self.regression.show(path)
        what = f"{self.kind.what} of {self.item.name}"
        message = f"{what} differ from the golden {shown}:\n{outcome.problem}"
        artifact, note = self.plot(outcome)
        message += note + f"\nIf the change is intended: pytest --nrn-regen rewrites {shown}."
        return Verdict(failure=message, files=[shown], artifact=artifact)

    def plot(self, outcome: Outcome) -> tuple[str | None, str]:
        """The picture of a failure, if the kind draws one: where it went, and the line
        of the failure that says so."""
        if outcome.drawing is None:
            return None, ""
        if not plots.available():
            return None, '\n(pip install "nrn-patch[plots]" for a plot of the difference)'
        target = self.regression.artifact_path(self.item, self.name, self.kind.name)
        title = f"{self.item.nodeid}: {self.kind.what} differ from the golden"
        try:
            artifact = self.regression.show(self.kind.plot(target, title, outcome.drawing))
        except OSError as error:
            return None, f"\n(no plot: {error})"
        return artifact, f"\nplot: {artifact}"


def made_by() -> dict[str, Any]:
    """What goes into a golden about the run that wrote it: versions and configuration."""
    parallel = patch.p.parallel
    return {
        **golden.versions(),
        "config": {
            "ranks": parallel.size,
            "threads": int(parallel.nthread()),
            "cvode": bool(patch.p.CVode().active()),
            "dt": float(patch.p.dt),
        },
    }
