"""The ``pytest11`` entry point: options, ini keys, markers and fixtures of pytest-patch.

Each concern lives in its own module with an ``addoption(group, parser)`` and a
``configure(config)`` function; this module only wires them together, so that
``-p pytest_patch`` and the entry point load exactly the same thing.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import configs, isolation, leaks, mods, mpi as mpi_support, regression, scripts
from .assertions import explain_vector_comparison
from .configs import nrn_config_fixture
from .fixtures import (
    iclamp_fixture,
    p_fixture,
    recording_fixture,
    section_fixture,
    simulator_fixture,
)
from .mpi import pytest_load_initial_conftests  # noqa: F401 - quiets ranks > 0 early
from .mpi.fixtures import mpi_file_name, mpi_tmp_path, mpi_tmpdir
from .regression import fixtures as regression_fixtures

__all__ = [
    "iclamp_fixture",
    "nrn_config_fixture",
    "p_fixture",
    "recording_fixture",
    "section_fixture",
    "simulator_fixture",
    "mpi_file_name",
    "mpi_tmp_path",
    "mpi_tmpdir",
]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Every golden kind's check fixture (``trace_regression``, ...): all of that module's.
    pluginmanager.register(regression_fixtures, "pytest_patch.regression.fixtures")
    group = parser.getgroup("patch", "NEURON models (pytest-patch)")
    leaks.addoption(group, parser)
    mods.addoption(group, parser)
    isolation.addoption(group, parser)
    regression.addoption(group, parser)
    configs.addoption(group, parser)
    scripts.addoption(group, parser)
    mpi_support.addoption(group, parser, pluginmanager)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    scripts.configure(config)  # first: NEURON must find its display when it starts
    # Isolation before MPI: the MPI session's report wrapper, registered after it, then
    # agrees on the isolated process's report rather than on its stand-in.
    isolation.configure(config)
    mpi_support.configure(config)
    mods.configure(config)
    leaks.configure(config)
    regression.configure(config)
    configs.configure(config)


def pytest_assertrepr_compare(op: str, left: Any, right: Any) -> list[str] | None:
    """``assert vec_a == vec_b`` explains that NEURON compares Vectors by identity."""
    return explain_vector_comparison(left, right) if op == "==" else None
