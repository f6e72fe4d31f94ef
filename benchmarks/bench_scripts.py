"""What an ``nrn_scripts`` item costs beyond the script's own run.

    python benchmarks/bench_scripts.py [--repeat 5] [MODEL_FOLDER ...]

For each model folder (default: the three ``examples/modeldb_*``; any folder with a
``pytest.ini`` naming ``nrn_mod_dirs`` and ``nrn_scripts`` and committed goldens will do)
and each of its ``nrn_scripts`` lines, two things are timed, interleaved, ``--repeat``
times each:

- **bare**: the script run alone, as a modeller runs it: a fresh ``python`` that starts
  NEURON, loads the model's mechanisms (from the cache) and the run system, loads the
  script from its folder and runs the statements (on the same virtual display);
- **item**: the same line as a pytest item, the time pytest reports for it (setup, call
  and teardown, in its junit XML): the fork, NEURON's start in the item's process, the
  script, sending back what it produced and the comparison with the goldens.

Printed per line: the medians, the overhead (item - bare) and the ratio, against the goal
(overhead within 10% of the bare run or 0.3 s, whichever is larger). The machine's other
load makes single timings noisy: the medians of interleaved pairs are what to read.
"""

from __future__ import annotations

import argparse
import configparser
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [
    ROOT / "examples" / name for name in ("modeldb_dendrite", "modeldb_ring", "modeldb_python")
]

BARE = """
import os, runpy, sys
import patch
from neuron import h
folder, name = sys.argv[1], sys.argv[2]
statements, mods, cache = sys.argv[3:-2], sys.argv[-2], sys.argv[-1]
for mod in filter(None, mods.split(os.pathsep)):
    patch.load_mechanisms(mod, cache=cache)
h.load_file("stdrun.hoc")
os.chdir(folder)
if name.endswith(".py"):
    sys.path.insert(0, folder)
    namespace = runpy.run_path(name, run_name="__main__")
    for statement in statements:
        exec(statement, namespace)
else:
    h.xopen(name)
    for statement in statements:
        h(statement)
"""


def lines_of(folder: Path) -> tuple[list[str], list[str]]:
    """The ``nrn_scripts`` lines and the mod folders of a model folder's ini."""
    parser = configparser.ConfigParser()
    parser.read(folder / "pytest.ini")
    section = parser["pytest"]
    scripts = [line.strip() for line in section.get("nrn_scripts", "").splitlines() if line.strip()]
    mods = [
        str((folder / m.strip()).resolve())
        for m in section.get("nrn_mod_dirs", "").splitlines()
        if m.strip()
    ]
    return scripts, mods


def bare(folder: Path, line: str, mods: list[str]) -> float:
    sys.path.insert(0, str(ROOT))
    from pytest_patch.scripts.lines import parse

    parsed = parse([line], folder)[0]
    command = [
        sys.executable,
        "-c",
        BARE,
        str(folder),
        parsed.path.name,
        *parsed.statements,
        os.pathsep.join(mods),
        str(folder / ".nrn-mod-cache"),
    ]
    start = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900
    )
    return time.perf_counter() - start


def item(folder: Path, line: str) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            f"nrn_scripts={line}",
            f"--junitxml={report}",
        ]
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise SystemExit(f"{folder}: {line} did not pass:\n{result.stdout[-3000:]}")
        case = ElementTree.parse(report).getroot().find(".//testcase")
        assert case is not None
        return float(case.get("time", "nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, default=EXAMPLES)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pytest_patch.scripts.display import choose

    display = choose()  # the same display for bare runs and for the sessions
    print(display.describe())
    rows = []
    try:
        for folder in args.folders:
            folder = folder.resolve()
            scripts, mods = lines_of(folder)
            for line in scripts:
                item(folder, line)  # warm: the mechanisms' cache, the goldens' pages
                bares, items = [], []
                for _ in range(args.repeat):
                    bares.append(bare(folder, line, mods))
                    items.append(item(folder, line))
                b, i = statistics.median(bares), statistics.median(items)
                rows.append((f"{folder.name}: {line}", b, i))
    finally:
        display.stop()
    print(f"{'script line':70} {'bare s':>8} {'item s':>8} {'extra s':>8} {'ratio':>6}  goal")
    for name, b, i in rows:
        extra = i - b
        ok = extra <= max(0.1 * b, 0.3)
        print(
            f"{name[:70]:70} {b:8.3f} {i:8.3f} {extra:+8.3f} {i / b:6.2f}  "
            f"{'met' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
