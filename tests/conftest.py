"""Fixtures shared by Patch's own tests."""

import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_earlier_models():
    """Free the models of earlier tests, so each test starts from an empty simulator."""
    gc.collect()
    yield
