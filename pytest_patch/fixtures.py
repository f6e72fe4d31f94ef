"""Fixtures for NEURON models: a clean simulator per test, sections, clamps, recordings."""

from __future__ import annotations

from typing import Any

import pytest


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register this module's options (``--nrn-leaks`` and its ini key)."""


def configure(config: pytest.Config) -> None:
    """Set up state for the session."""


@pytest.fixture(name="p")
def p_fixture() -> Any:
    from patch import p

    return p


@pytest.fixture(name="section")
def section_fixture(p: Any) -> Any:
    return p.Section()


@pytest.fixture(name="iclamp")
def iclamp_fixture(p: Any) -> Any:
    def factory(target: Any, **kwargs: Any) -> Any:
        return target.iclamp(**kwargs)

    return factory


@pytest.fixture(name="recording")
def recording_fixture(p: Any) -> Any:
    def factory(target: Any) -> Any:
        vector = p.Vector()
        vector.record(target)
        return vector

    return factory
