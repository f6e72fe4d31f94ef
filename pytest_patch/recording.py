"""A NEURON variable recorded during a run, with the simulation time beside it."""

from __future__ import annotations

from typing import Any

import numpy as np

import patch


class Recording:
    """A NEURON variable recorded during a run, with the simulation time alongside.

    ``target`` is a Section (its middle's voltage), a Segment (its voltage), a pointer
    such as ``seg._ref_ina``, or an object with ``__record__``. After a run, ``values``
    and ``time`` are numpy arrays of equal length; ``vector`` and ``time_vector`` are
    the NEURON Vectors behind them.
    """

    def __init__(self, target: Any) -> None:
        self.target = target
        self.vector: patch.Vector = patch.Vector().record(target)
        # NEURON ties a recording of t to a section and drops it when that section goes:
        # tie it to the recorded section, which the value's Vector keeps alive.
        owners = patch.references(self.vector)
        where = {"sec": next(iter(owners))} if owners else {}
        self.time_vector: patch.Vector = patch.Vector().record(patch.p._ref_t, **where)

    @property
    def values(self) -> np.ndarray:
        """The recorded values (a copy, safe to keep across runs)."""
        return self.vector.as_numpy().copy()

    @property
    def time(self) -> np.ndarray:
        """The simulation time (ms) of each recorded value."""
        return self.time_vector.as_numpy().copy()

    def __len__(self) -> int:
        return int(self.vector.size())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def __repr__(self) -> str:
        return f"<Recording of {self.target!r}: {len(self)} values>"
