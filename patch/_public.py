"""The one table of public names: ``__init__.pyi``, read by type checkers and by Patch."""

from __future__ import annotations

import ast
import functools
from pathlib import Path


@functools.cache
def public_names() -> dict[str, str]:
    """Each public name and the module of ``patch`` that defines it, as the stub lists them.

    ``patch.<name>`` imports that module on first use, and ``p.<Name>`` imports the module
    of a NEURON class's wrapper before it first makes the class (so a new wrapper needs no
    other entry).
    """
    stub = Path(__file__).with_name("__init__.pyi")
    names: dict[str, str] = {}
    for node in ast.parse(stub.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module or alias.name
    return names
