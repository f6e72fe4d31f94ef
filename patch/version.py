"""nrn-patch 8's ``patch.version`` (NEURON version checks): gone in Patch 9.

Patch needs NEURON 9 or later, so it compares no versions. Using a name of this module
raises an ``UnknownAttributeError`` saying so; ``patch.__version__`` is Patch's own
version. docs/migrating.md lists every name.
"""

from __future__ import annotations

from typing import Any

from ._compat import retired as _retired

_NO_CHECKS = (
    "Patch needs NEURON 9 or later and checks nothing else; neuron.__version__ is NEURON's "
    "version string (compare it with packaging.version.Version if you must)."
)
_FATES: dict[str, tuple[str, str | None]] = {
    "get_neuron_version": (_NO_CHECKS, None),
    "NeuronVersion": (_NO_CHECKS, None),
}


def __getattr__(name: str) -> Any:
    return _retired(__name__, name, _FATES)
