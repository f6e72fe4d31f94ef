"""The ``pytest11`` entry point: options, ini keys, markers and fixtures of pytest-patch.

Each concern lives in its own module with an ``addoption(group, parser)`` and a
``configure(config)`` function; this module only wires them together, so that
``-p pytest_patch`` and the entry point load exactly the same thing.
"""

from __future__ import annotations

import pytest

from . import fixtures, mods
from . import mpi as mpi_support
from .fixtures import iclamp_fixture, p_fixture, recording_fixture, section_fixture
from .mpi import pytest_load_initial_conftests  # noqa: F401 - quiets ranks > 0 early

__all__ = ["iclamp_fixture", "p_fixture", "recording_fixture", "section_fixture"]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("patch", "NEURON models (pytest-patch)")
    fixtures.addoption(group, parser)
    mods.addoption(group, parser)
    mpi_support.addoption(group, parser, pluginmanager)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    mpi_support.configure(config)
    mods.configure(config)
    fixtures.configure(config)
