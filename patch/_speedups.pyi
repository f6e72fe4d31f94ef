# The compiled module built from _speedups.c (optional: see _hoc.COMPILED).
from typing import Any

class Attributes:
    """Compiled attribute reads and writes of NEURON's variables."""

class SetAttributes:
    """Compiled attribute writes of NEURON's variables."""

def configure(plain_view: Any, hoc_type: type, /) -> None: ...
def hoc_setattr(obj: Any, name: str, value: Any, /) -> None: ...
def compiled_slots(cls: type, /) -> frozenset[str]: ...
