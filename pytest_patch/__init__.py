"""pytest-patch: test NEURON models with pytest, serially and under MPI."""

from __future__ import annotations

__all__: list[str] = []
