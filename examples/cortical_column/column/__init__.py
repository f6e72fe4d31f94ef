"""A small cortical column: layer 5 pyramidal cells in a recurrent network.

``column.cell.PyramidalCell`` is the cell, ``column.network.Column`` the network; both
build with Patch (``from patch import p``). The mechanisms of ``mod/`` are compiled and
loaded on import (cached by content, and shared with the pytest plugin's build), for
CoreNEURON as well, so that ``p.coreneuron.enable = True`` runs the column in CoreNEURON.
"""

from pathlib import Path

import patch

MOD = Path(__file__).resolve().parent.parent / "mod"
patch.load_mechanisms(MOD, coreneuron=True)

from .cell import V_REST, PyramidalCell  # noqa: E402  (needs the mechanisms loaded)
from .network import Column  # noqa: E402

__all__ = ["Column", "PyramidalCell", "MOD", "V_REST"]
