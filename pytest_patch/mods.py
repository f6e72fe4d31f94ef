"""Compile and load the ``.mod`` folders a model repository names (``nrn_mod_dirs``)."""

from __future__ import annotations

from typing import Any

import pytest


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register ``--nrn-mod-dir`` and the ``nrn_mod_dirs`` ini key."""


def configure(config: pytest.Config) -> None:
    """Compile (cached) and load the configured mod folders."""
