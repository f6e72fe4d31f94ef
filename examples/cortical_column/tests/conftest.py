"""Shared fixtures: one pyramidal cell, and a current-step protocol on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from column import V_REST, PyramidalCell


@dataclass
class Step:
    """A current step into the soma and the traces it records."""

    soma: Any
    apical: Any
    stimulus: tuple[float, float]


@pytest.fixture
def cell(p):
    """A fresh pyramidal cell, with runs starting at its resting potential."""
    p.v_init = V_REST
    return PyramidalCell()


@pytest.fixture
def step(p, cell, iclamp, recording):
    """``step(amp, delay=, duration=, tail=)``: inject ``amp`` nA into the soma and run.

    ``delay`` lets Ih settle before the step; ``tail`` is recorded after it.
    """

    def run(
        amp: float, *, delay: float = 50.0, duration: float = 200.0, tail: float = 20.0
    ) -> Step:
        clamp = iclamp(cell.soma, amp=amp, delay=delay, duration=duration)
        soma, apical = recording(cell.soma), recording(cell.trunk[-1](0.5))
        p.run(delay + duration + tail)
        clamp.amp = 0  # the clamp lives with the cell: silence it for a next step
        return Step(soma, apical, (delay, delay + duration))

    return run
