"""Argument checks shared by the package: what NEURON takes as a number or an index."""

from __future__ import annotations

import numbers
import operator
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


def as_double(value: Any) -> float:
    """``value`` as NEURON reads a number into a variable (``__float__``, else ``__index__``),
    or the TypeError NEURON's refusal would say.

    A variable set NEURON refuses leaves an entry on its interpreter's stack; about a
    thousand refusals end the process ("Stack too deep"). Values NEURON would refuse are
    therefore refused before they reach it.
    """
    kind = type(value)
    if kind is float:
        return value
    if hasattr(kind, "__float__"):
        return float(value)
    if hasattr(kind, "__index__"):
        return float(operator.index(value))
    raise TypeError(f"must be real number, not {kind.__name__}")
