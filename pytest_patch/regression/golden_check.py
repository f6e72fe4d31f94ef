"""What every golden check does when a test calls ``.check``: refuse a second check of
the same name, let rank 0 decide for all ranks (:mod:`.collective`, :mod:`.decision`),
and conclude on every rank: a failure recorded for the end of the test, an error raised,
the files used and written told to the session.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from .._validate import tolerance
from . import formats
from .collective import decide_on_rank_0
from .decision import Decision, Verdict, error_verdict
from .formats import Tolerances
from .session import Regression

#: Default tolerances: the same build gives the same numbers; a different machine or
#: NEURON version differs in the last digits. ``--nrn-calibrate`` measures better ones.
RTOL, ATOL, WINDOW = 1e-6, 1e-6, 1e-3


class GoldenWrittenWarning(UserWarning):
    """``--nrn-regen`` wrote a golden file; review it and commit it."""


_ERRORS: dict[str, type[Exception]] = {
    "TypeError": TypeError,
    "ValueError": ValueError,
    "RuntimeError": RuntimeError,
}


def per_name(tolerances: Any, allowed: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per-name tolerances given to a check (``{"soma": {"atol": 0.01}}``), checked."""
    if tolerances is None:
        return {}
    if not isinstance(tolerances, Mapping):
        raise TypeError(
            f"tolerances must map names to {{{', '.join(allowed)}}}, not {tolerances!r}"
        )
    out: dict[str, dict[str, float]] = {}
    for name, value in tolerances.items():
        if not isinstance(value, Mapping) or not set(value) <= set(allowed):
            raise ValueError(
                f"tolerances[{name!r}] must be a mapping with keys from {allowed}, not {value!r}"
            )
        out[str(name)] = {
            key: tolerance(f"tolerances[{name!r}][{key!r}]", x) for key, x in value.items()
        }
    return out


class GoldenCheck:
    """What the fixtures' checks share: the item, the session, and the check protocol.

    A subclass names its golden ``kind`` and the ``fixture`` users call it by, and its
    ``check`` calls :meth:`_check` with what each rank computes and how rank 0 combines
    the ranks' parts into the kind's data.
    """

    kind = ""
    fixture = ""

    def __init__(self, request: pytest.FixtureRequest, regression: Regression) -> None:
        self._item = request.node
        self._regression = regression
        self._names: set[str | None] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._item.name}>"

    def _check(
        self,
        name: str | None,
        local: Callable[[], Any],
        combine: Callable[[list[Any]], Any],
        tolerances: Callable[[], Tolerances],
    ) -> None:
        """Check this test's ``name`` golden: ``local()`` on every rank, then on rank 0
        ``combine`` of the parts compared with the golden within ``tolerances()``."""
        __tracebackhide__ = True
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, not {name!r}")
        if name in self._names:
            raise ValueError(
                f"{self.fixture}.check called twice in {self._item.name} with "
                + ("no name" if name is None else f"name={name!r}")
                + ": give each check of a test its own name=..."
            )
        self._names.add(name)
        self._regression.checked(self._item)
        decision = Decision(self._regression, self._item, formats.get(self.kind), name)

        def decide(parts: list[Any]) -> Verdict:
            path = self._regression.path_for(self._item, name, self.kind)
            return decision.decide(path, combine(parts), tolerances())

        self._conclude(decide_on_rank_0(local, decide, error_verdict))

    def _conclude(self, verdict: Verdict) -> None:
        __tracebackhide__ = True
        for file in verdict.files:  # the session learns of it from the test's report
            self._item.user_properties.append(("nrn_golden", file))
        if verdict.artifact:
            self._item.user_properties.append(("nrn_artifact", verdict.artifact))
        if verdict.measured:
            self._regression.calibration.record(self._item, verdict.files[0], verdict.measured)
        if verdict.written:  # reported through the test's report, so xdist's controller sees it
            self._item.user_properties.append(("nrn_golden_written", verdict.written))
        if verdict.missing:
            self._regression.missing(self._item).append(verdict.missing)
        if verdict.warning:
            warnings.warn(GoldenWrittenWarning(verdict.warning), stacklevel=4)
        if verdict.error:
            kind, message = verdict.error
            raise _ERRORS.get(kind, ValueError)(message)
        if verdict.failure:
            failed = self._regression.failed(self._item)
            if failed is None:  # outside the test's call: nothing collects it
                raise AssertionError(verdict.failure)
            failed.append(f"{verdict.failure}\n(checked at {_caller()})")


def _caller() -> str:
    """``file:line`` of the test code that called the check."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame = frame.f_back
    path = frame.f_code.co_filename
    try:
        path = os.path.relpath(path)
    except ValueError:
        pass
    return f"{path}:{frame.f_lineno}"
