"""What a golden kind is: the protocol each module of :mod:`.formats` implements, and the
content of a golden file that every kind shares.

A kind knows its file (``suffix``, ``read``, ``write``), how to tell bit-identical data
without reading the file (``fingerprint``, ``stored_fingerprint``), how a run compares
with a golden (``compare``, giving an :class:`Outcome`), how far a perturbed run is from
it (``spread``, for ``--nrn-calibrate``) and how to draw a failure (``plot``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: The format version written; files of a newer version are refused, not misread.
FORMAT = 1


class GoldenError(Exception):
    """A golden file that cannot be used: corrupt, of a newer format, or nonsensical."""


@dataclass
class Golden:
    """The content of one golden file: data by name, and what made it."""

    kind: str
    data: dict[Any, Any]
    made_by: dict[str, Any] = field(default_factory=dict)
    #: Per-name tolerances stored by ``--nrn-calibrate`` (``{"soma": {"atol": 0.2}}``).
    tolerances: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Tolerances:
    """What a check allows: ``rtol``/``atol`` for values, ``window`` (ms) for spikes, and
    per-name overrides given by the test (``{"soma": {"atol": 0.01}}``)."""

    rtol: float = 0.0
    atol: float = 0.0
    window: float = 0.0
    per_name: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Outcome:
    """How a run compares with its golden."""

    #: What differs, for the failure report; ``None`` when the run passes.
    problem: str | None = None
    #: What :meth:`Kind.plot` draws of the failure; ``None`` when there is nothing to draw.
    drawing: Any = None


class Kind(Protocol):
    """One kind of golden file (traces, spikes, features, printed output)."""

    #: In file names (``test_x.<name>.json``), in the file's header, in ``--nrn-unused``.
    name: str
    #: The file's extension, with its dot.
    suffix: str
    #: What a message calls the data ("traces", "printed output").
    what: str

    def read(self, path: Path) -> Golden:
        """The golden at ``path``; :class:`GoldenError` (or an ``OSError``, ``ValueError``...,
        which the caller words) when it cannot be used."""
        ...

    def write(self, header: dict[str, Any], data: Any) -> bytes:
        """The bytes of a golden file: ``header`` (kind, format, made_by, tolerances) and
        ``data`` (a run's data, or the ``data`` of a :class:`Golden` read before)."""
        ...

    def fingerprint(self, data: Any) -> Any:
        """The fingerprint of a run's data, equal to :meth:`stored_fingerprint` of a golden
        holding bit-identical data; ``None``: this kind always compares."""
        ...

    def stored_fingerprint(self, path: Path) -> Any:
        """The fingerprint a golden was written with, read cheaply; ``None`` when unknown."""
        ...

    def compare(self, stored: Golden, data: Any, tolerances: Tolerances) -> Outcome:
        """How a run's ``data`` compares with the golden."""
        ...

    def spread(self, stored: Golden, data: Any) -> dict[str, Any]:
        """Per name, what a calibration measured: ``{"atol": ...}``, ``{"window": ...}``,
        or ``None`` where no tolerance can cover the difference."""
        ...

    def plot(self, path: Path, title: str, drawing: Any) -> Path:
        """Draw an :class:`Outcome`'s ``drawing`` into ``path`` (needs matplotlib)."""
        ...


def names_differ(stored: Any, actual: Any, what: str) -> list[str]:
    """Lines naming what is only in the golden or only in the run."""
    lines = []
    only_golden = sorted(map(str, stored.keys() - actual.keys()))
    only_run = sorted(map(str, actual.keys() - stored.keys()))
    if only_golden:
        lines.append(f"{what} in the golden but not in this run: {', '.join(only_golden)}")
    if only_run:
        lines.append(f"{what} in this run but not in the golden: {', '.join(only_run)}")
    return lines
