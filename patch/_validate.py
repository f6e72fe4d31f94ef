"""Argument checks shared by the package: what NEURON takes as a number or an index."""

from __future__ import annotations

import numbers
from typing import Any


def is_number(value: Any) -> bool:
    """Whether NEURON takes ``value`` as a number: ints, floats, numpy's, not bools."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the ABC look-up
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a whole number a rank or gid can be: ints, numpy's, not bools."""
    if type(value) is int:
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
