"""How numbers and arrays are read into a comparison and shown in its descriptions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def number(value: float) -> str:
    """A value with 6 significant digits."""
    return f"{value:.6g}"


def round_up(value: float) -> str:
    """``value`` with 3 significant digits, rounded up: a tolerance shown as passing passes."""
    if not math.isfinite(value) or value <= 0:
        return f"{value:g}"
    step = 10.0 ** (math.floor(math.log10(value)) - 2)
    shown = math.ceil(value / step - 1e-9) * step
    while float(f"{shown:.3g}") < value:
        shown += step
    return f"{shown:.3g}"


def near(values: np.ndarray, index: int, width: int = 3, mark: bool = True) -> str:
    """A few values around ``index``, with the one at ``index`` marked."""
    low, high = max(0, index - width), min(len(values), index + width + 1)
    shown = [
        f">{number(v)}<" if mark and i == index else number(v)
        for i, v in zip(range(low, high), values[low:high], strict=True)
    ]
    before, after = ("..., " if low else ""), (", ..." if high < len(values) else "")
    return "[" + before + ", ".join(shown) + after + "]"


def float_array(
    data: Any, what: str, kind: str = "a Recording, a (time, values) pair or a Vector"
) -> np.ndarray:
    """``data`` (a NEURON Vector or anything numpy takes) as a 1-D float array, or a
    ``TypeError``/``ValueError`` naming ``what`` and the ``kind`` of data it takes."""
    if hasattr(data, "as_numpy") and hasattr(data, "hname"):  # a NEURON Vector
        return np.array(data.as_numpy(), dtype=float)
    try:
        array = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be {kind}, not {type(data).__name__}") from None
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, not of shape {array.shape}")
    return array
