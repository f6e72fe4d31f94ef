"""pytest-mpi's fixtures, with its names and meaning: one path shared by every rank."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import patch


def _from_rank_zero(value: str) -> str:
    """Rank 0's ``value`` on every rank (itself in a serial run)."""
    context = patch.p.parallel
    shared: str = context.broadcast(value if context.rank == 0 else None, root=0)
    return shared


@pytest.fixture
def mpi_file_name(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A file name in a temporary folder, the same on every rank (rank 0's)."""
    return _from_rank_zero(str(tmp_path / f"{request.node.name}.hdf5"))


@pytest.fixture
def mpi_tmpdir(tmpdir: Any) -> Any:
    """``tmpdir``, the same on every rank (rank 0's), as a ``py.path.local``."""
    return type(tmpdir)(_from_rank_zero(str(tmpdir)))


@pytest.fixture
def mpi_tmp_path(tmp_path: Path) -> Path:
    """``tmp_path``, the same on every rank (rank 0's)."""
    return Path(_from_rank_zero(str(tmp_path)))
