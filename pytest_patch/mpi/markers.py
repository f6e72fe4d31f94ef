"""The ``mpi`` markers: arguments checked at collection, and what each marker does.

The markers are pytest-mpi's and keep its meaning; pytest-mpi's own plugin stands down
(see :mod:`pytest_patch.mpi`), because it skips ``mpi`` tests in a serial run, where
pytest-patch runs them in a child ``mpiexec`` instead.
"""

from __future__ import annotations

from enum import Enum

import pytest

from .._validate import is_integer


class Marker(str, Enum):
    """Marker names, as pytest-mpi defines them."""

    MPI = "mpi"
    SKIP = "mpi_skip"
    XFAIL = "mpi_xfail"
    BREAK = "mpi_break"


MARKER_LINES = {
    Marker.MPI: "mpi(min_size=1): the test needs an MPI world of at least min_size ranks. "
    "Under `mpiexec -n N pytest --with-mpi` it runs on every rank with one combined "
    "outcome; from a serial pytest, tests with min_size > 1 run in a child "
    "`mpiexec -n min_size`.",
    Marker.SKIP: "mpi_skip: skip the test when running with --with-mpi.",
    Marker.XFAIL: "mpi_xfail: the test is expected to fail when running with --with-mpi.",
    Marker.BREAK: "mpi_break: skip the test when running with --with-mpi (deprecated).",
}

_USAGE = "use @pytest.mark.mpi or @pytest.mark.mpi(min_size=N) with an int N >= 1"


def mark_error(mark: pytest.Mark) -> str | None:
    """What is wrong with an ``mpi`` mark's arguments, or ``None`` when they are fine."""
    if mark.args:
        return f"@pytest.mark.mpi takes no positional arguments, got {mark.args!r}; {_USAGE}."
    unknown = sorted(set(mark.kwargs) - {"min_size"})
    if unknown:
        return f"@pytest.mark.mpi got unknown keyword argument(s) {unknown}; {_USAGE}."
    size = mark.kwargs.get("min_size", 1)
    if not is_integer(size) or size < 1:
        return f"@pytest.mark.mpi(min_size={size!r}) is not an int >= 1; {_USAGE}."
    return None


def required_ranks(item: pytest.Item) -> int:
    """The number of ranks an item needs: the largest ``min_size`` of its ``mpi`` marks."""
    sizes = [mark.kwargs.get("min_size", 1) for mark in item.iter_markers(Marker.MPI.value)]
    return max((size for size in sizes if type(size) is int), default=1)


def is_mpi_test(item: pytest.Item) -> bool:
    """Whether the item carries an ``mpi`` mark."""
    return item.get_closest_marker(Marker.MPI.value) is not None


def add_marker_lines(config: pytest.Config) -> None:
    """Document the markers for ``pytest --markers`` and ``--strict-markers``."""
    for line in MARKER_LINES.values():
        config.addinivalue_line("markers", line)


class MarkerRules:
    """Checks mark arguments and applies pytest-mpi's marker meaning.

    ``with_mpi`` tells whether ``--with-mpi`` (or ``--only-mpi``) was given, ``world_size``
    how many ranks this session runs on.
    """

    def __init__(self, *, with_mpi: bool, only_mpi: bool, world_size: int) -> None:
        self.with_mpi = with_mpi
        self.only_mpi = only_mpi
        self.world_size = world_size

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        for mark in metafunc.definition.iter_markers(Marker.MPI.value):
            error = mark_error(mark)
            if error:
                pytest.fail(f"{metafunc.definition.nodeid}: {error}", pytrace=False)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if self.with_mpi:
                if item.get_closest_marker(Marker.SKIP.value) or item.get_closest_marker(
                    Marker.BREAK.value
                ):
                    item.add_marker(pytest.mark.skip(reason="test does not work under MPI"))
                if item.get_closest_marker(Marker.XFAIL.value):
                    item.add_marker(pytest.mark.xfail(reason="test fails under MPI"))
            if self.only_mpi and not is_mpi_test(item):
                item.add_marker(pytest.mark.skip(reason="--only-mpi: test does not use MPI"))
            reason = self._too_small(required_ranks(item))
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))

    def _too_small(self, needed: int) -> str | None:
        """Why a test needing ``needed`` ranks cannot run in this ``--with-mpi`` world."""
        if not self.with_mpi or needed <= self.world_size:
            return None
        if self.world_size == 1:
            return (
                f"needs {needed} MPI ranks (mpi(min_size={needed})) but this --with-mpi run "
                f"has 1 rank: run `mpiexec -n {needed} python -m pytest --with-mpi`, or leave "
                "out --with-mpi to let pytest-patch start mpiexec for it"
            )
        return (
            f"needs {needed} MPI ranks (mpi(min_size={needed})) but the MPI world has "
            f"{self.world_size}: run with `mpiexec -n {needed}` or more"
        )
