"""Patch's overhead against raw ``neuron.h``: the same models built and run both ways.

    python benchmarks/bench_wrapper.py [--repeat 3] [--fresh 5]

In-process: each case runs alternately with ``h`` and ``p`` in this one process; the
best of ``--repeat`` rounds is kept for each, and the ratio ``p / h`` is printed.

Fresh process: a user's script builds one model in a new interpreter, so first-use costs
(imports, class creation, mechanism tables, the garbage collector's first full collection
after the imports, freeing the model at exit) count too. Each
model of ``FRESH_CASES`` is built in a new ``python -c`` that imports only ``p`` or only
``h`` (the same source code, with ``NEURON_MODULE_OPTIONS=-nogui`` for both when there is
no display), ``--fresh`` times each, ``h`` and ``p`` interleaved, and the medians give two
ratios ``p / h``: the model build alone (timed in the child, from the model's first line
to its last) and the whole process (wall time from start to exit, ``import`` included).

Machines are noisy: compare ratios from one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from neuron import h

import patch
from patch import p  # first: Patch turns NEURON's graphics off when there is no display

# stdrun.hoc is loaded only for the recording case (see main): every hoc name it defines
# makes each raw ``h.Section``/``h.ExpSyn``/``h.NetCon`` lookup slower (NEURON searches
# its symbol list), while ``p`` keeps its classes; loading it before the build cases would
# flatter ``p``, and a fresh script that builds its model before loading it has no such cost.


def sections(sim: Any) -> Callable[[], Any]:
    def run() -> Any:
        chain = []
        previous = None
        for _ in range(20_000):
            section = sim.Section()
            section.insert("hh")
            if previous is not None:
                section.connect(previous)
            chain.append(section)
            previous = section
        return chain

    return run


def triples(sim: Any) -> Callable[[], Any]:
    section = sim.Section()

    def run() -> Any:
        kept = []
        for _ in range(5_000):
            synapse = sim.ExpSyn(section(0.5))
            stimulus = sim.NetStim()
            kept.append((synapse, stimulus, sim.NetCon(stimulus, synapse)))
        return kept

    return run


class Recording:
    """2 000 recorded sections: setup, init and run timed separately."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.sections = [sim.Section() for _ in range(2_000)]
        for section in self.sections:
            section.insert("hh")

    def setup(self) -> Any:
        self.vectors = []
        for section in self.sections:
            vector = self.sim.Vector()
            vector.record(section(0.5)._ref_v)
            self.vectors.append(vector)

    def init(self) -> Any:
        self.sim.finitialize(-65)

    def run(self) -> Any:
        self.sim.continuerun(100)


def attribute(sim: Any, form: str) -> Callable[[], Any]:
    section = sim.Section()
    segment = section(0.5)

    def read_l() -> None:
        for _ in range(200_000):
            section.L = section.L

    def read_seg_v() -> None:
        for _ in range(200_000):
            segment.v = segment.v

    def read_sec_v() -> None:
        for _ in range(200_000):
            section(0.5).v = section(0.5).v

    return {"sec.L": read_l, "seg.v": read_seg_v, "sec(0.5).v": read_sec_v}[form]


def build_and_collect(sim: Any) -> Callable[[], Any]:
    def run() -> None:
        for _ in range(10_000):
            soma = sim.Section()
            dend = sim.Section()
            dend.connect(soma)
            synapse = sim.ExpSyn(dend(0.5))
            stimulus = sim.NetStim()
            sim.NetCon(stimulus, synapse)
            del soma, dend, synapse, stimulus
        gc.collect()

    return run


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def best(make: Callable[[Any], Callable[[], Any]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"h": [], "p": []}
    for _ in range(repeat):
        for name, sim in (("h", h), ("p", p)):
            elapsed, result = timed(make(sim))
            times[name].append(elapsed)
            del result
            gc.collect()
    return {name: min(values) for name, values in times.items()}


def recording_phases(repeat: int) -> dict[str, dict[str, float]]:
    phases: dict[str, dict[str, list[float]]] = {
        phase: {"h": [], "p": []} for phase in ("setup", "init", "run")
    }
    for _ in range(repeat):
        for name, sim in (("h", h), ("p", p)):
            model = Recording(sim)
            for phase in ("setup", "init", "run"):
                elapsed, _ = timed(getattr(model, phase))
                phases[phase][name].append(elapsed)
            del model
            gc.collect()
    return {phase: {k: min(v) for k, v in d.items()} for phase, d in phases.items()}


# -- fresh processes ------------------------------------------------------------------

#: Cases built once per fresh process: (label, model function). A model function must be
#: self-contained (it is sent to the child as source code) and take the simulator.
FRESH_CASES: list[tuple[str, Callable[[Any], Callable[[], Any]]]] = [
    ("20 000 sections (chain, hh)", sections),
    ("5 000 ExpSyn+NetStim+NetCon", triples),
    ("build, drop, collect 10 000 graphs", build_and_collect),
]

IMPORTS = {"h": "from neuron import h as sim", "p": "from patch import p as sim"}

#: The folder holding the ``patch`` this process imported: children run there (``python
#: -c`` puts its working folder first on ``sys.path``) with it first on ``PYTHONPATH``, so
#: they measure the same Patch as the in-process table.
PATCH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(patch.__file__)))

# The child imports one simulator, builds the model once (set-up and run, as a script
# would) and prints the seconds its import and its build took.
CHILD = """\
from __future__ import annotations
import gc
import time
from typing import Any
started = time.perf_counter()
{imports}
imported = time.perf_counter()
{source}
result = {name}(sim)()
built = time.perf_counter()
print("BENCH", imported - started, built - imported)
"""


def fresh_once(make: Callable[[Any], Callable[[], Any]], sim: str) -> tuple[float, float, float]:
    """(import, build, whole process) seconds of one fresh child building ``make``'s model."""
    code = CHILD.format(imports=IMPORTS[sim], source=inspect.getsource(make), name=make.__name__)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (PATCH_ROOT, env.get("PYTHONPATH"))))
    if "DISPLAY" not in env:
        env.setdefault("NEURON_MODULE_OPTIONS", "-nogui")  # as Patch does: same for h
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=PATCH_ROOT,
        check=False,
    )
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"fresh {sim} run of {make.__name__} failed:\n{done.stdout}{done.stderr}")
    imported, built = (float(value) for value in lines[-1].split()[1:])
    return imported, built, elapsed


def fresh_medians(
    make: Callable[[Any], Callable[[], Any]], runs: int
) -> dict[str, dict[str, float]]:
    """Medians of ``runs`` fresh children per simulator, ``h`` and ``p`` interleaved."""
    times: dict[str, dict[str, list[float]]] = {
        sim: {"import": [], "build": [], "process": []} for sim in ("h", "p")
    }
    for _ in range(runs):
        for sim in ("h", "p"):
            kinds = ("import", "build", "process")
            for kind, value in zip(kinds, fresh_once(make, sim), strict=False):
                times[sim][kind].append(value)
    return {
        sim: {kind: statistics.median(values) for kind, values in kinds.items()}
        for sim, kinds in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="in-process rounds (best kept)")
    parser.add_argument(
        "--fresh",
        type=int,
        default=5,
        help="fresh processes per case and simulator (median; 0: skip)",
    )
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = [
        ("20 000 sections (chain, hh)", best(sections, args.repeat)),
        ("5 000 ExpSyn+NetStim+NetCon", best(triples, args.repeat)),
    ]
    graphs = best(build_and_collect, args.repeat)  # before stdrun.hoc, as the two above
    h.load_file("stdrun.hoc")  # continuerun, for the recording case
    for phase, result in recording_phases(args.repeat).items():
        rows.append((f"record 2 000 sections, 100 ms: {phase}", result))
    for form in ("sec.L", "seg.v", "sec(0.5).v"):
        rows.append(
            (
                f"200 000 reads+writes of {form}",
                best(lambda sim, form=form: attribute(sim, form), args.repeat),
            )
        )
    rows.append(("build, drop, collect 10 000 graphs", graphs))
    print(f"in-process, best of {args.repeat}")
    print(f"{'case':45} {'raw h (s)':>10} {'patch p (s)':>12} {'p / h':>7}")
    for label, result in rows:
        print(
            f"{label:45} {result['h']:10.4f} {result['p']:12.4f} {result['p'] / result['h']:7.2f}"
        )
    if args.fresh <= 0:
        return
    print(
        f"\nfresh process per model, median of {args.fresh}; build: timed in the child, "
        "process: wall time, import included"
    )
    print(
        f"{'case':36} {'build h':>8} {'build p':>8} {'p / h':>6} {'import h':>9} {'import p':>9}"
        f" {'process h':>10} {'process p':>10} {'p / h':>6}"
    )
    for label, make in FRESH_CASES:
        m = fresh_medians(make, args.fresh)
        h_, p_ = m["h"], m["p"]
        print(
            f"{label:36} {h_['build']:8.4f} {p_['build']:8.4f} {p_['build'] / h_['build']:6.2f}"
            f" {h_['import']:9.4f} {p_['import']:9.4f}"
            f" {h_['process']:10.4f} {p_['process']:10.4f} {p_['process'] / h_['process']:6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
