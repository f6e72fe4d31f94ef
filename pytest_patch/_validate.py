"""Argument, option and ini checks shared by the plugin: numbers that are not bools,
tolerances, seconds, ini numbers and booleans whose errors name their key."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest


def is_number(value: Any) -> bool:
    """A real number (ints, floats, numpy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """A real number that is neither infinite nor NaN, not a bool."""
    return is_number(value) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """A whole number (ints, numpy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def tolerance(name: str, value: Any) -> float:
    """A tolerance given to a check: a finite number >= 0, or ``ValueError`` naming it."""
    if not is_finite_number(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, not {value!r}")
    return float(value)


def flag(config: pytest.Config, name: str) -> bool:
    """The ini boolean ``name``; a value that is not one is a usage error naming it."""
    import pytest  # only the plugin's modules ask: the strategies never import pytest

    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as error:
        raise pytest.UsageError(
            f"ini {name}: {error}; write true or false (or 1/0, yes/no, on/off)."
        ) from None


def positive_seconds(value: Any, name: str) -> float:
    """A number of seconds > 0, given to an option or an ini key ``name`` (as text or a
    number); anything else is a usage error naming it."""
    import pytest

    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise pytest.UsageError(
            f"{name}={value!r}: give a positive number of seconds, e.g. {name}=60."
        )
    return seconds


def ini_number(config: pytest.Config, name: str) -> float:
    """The ini number ``name``, >= 0; anything else is a usage error naming it."""
    import pytest

    text = str(config.getini(name)).strip()
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise pytest.UsageError(f"{name} = {text!r} is not a number >= 0")
    return value
