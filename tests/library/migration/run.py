"""Run a migration example and write what it did as JSON.

``python run.py SCRIPT OUT.json`` runs SCRIPT (``old_style.py`` or ``migrated.py``) as
``__main__`` with every warning recorded, then writes the versions it ran with, the
script's ``spikes``, ``celsius``, ``t`` and the warnings to OUT.json. The same runner
wrote ``nrn_patch_8.json``, under nrn-patch 8.0.2 (see test_migration.py).
"""

import json
import runpy
import sys
import warnings
from importlib.metadata import version

script, out = sys.argv[1], sys.argv[2]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    namespace = runpy.run_path(script, run_name="__main__")

# Only now: the script is the one to start NEURON.
import neuron

from patch import p

result = {
    "versions": {"nrn-patch": version("nrn-patch"), "neuron": neuron.__version__},
    "spikes": namespace["spikes"],
    "celsius": p.celsius,
    "t": p.t,
    "warnings": [
        {
            "category": w.category.__name__,
            "message": str(w.message),
            "filename": w.filename.rsplit("/", 1)[-1],
            "lineno": w.lineno,
        }
        for w in caught
    ],
}
with open(out, "w") as file:
    json.dump(result, file, indent=1)
