"""Published models' own scripts as tests (ini ``nrn_scripts``), with no test code.

Each line of ``nrn_scripts`` (``PATH`` or ``PATH :: STATEMENTS``) is an item: the
script is loaded on a fresh NEURON (the ``nrn_isolated`` machinery) from its folder with
the session's ``nrn_mod_dirs`` loaded, the statements run, and what it produced — every
hoc Graph's lines, the Vectors in named variables, the spike times NetCons recorded into
them, the printed output — is compared with goldens through the regression machinery.
Graphs are read on a virtual display this session starts (:mod:`.display`).
"""

from __future__ import annotations

from .plugin import addoption, configure

__all__ = ["addoption", "configure"]
