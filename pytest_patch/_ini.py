"""Ini values that pytest parses, with errors that name their key."""

from __future__ import annotations

import pytest


def flag(config: pytest.Config, name: str) -> bool:
    """The ini boolean ``name``; a value that is not one is a usage error naming it."""
    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as error:
        raise pytest.UsageError(
            f"ini {name}: {error}; write true or false (or 1/0, yes/no, on/off)."
        ) from None
