"""The wrapper's cost where model code spends it: the shapes of real model scripts.

    python benchmarks/bench_model.py [--runs 5] [--only NAME ...] [--mpi-runs 11]

Each case runs in a fresh ``python -c`` that imports only ``p`` or only ``h`` (the same
source code), ``h`` and ``p`` interleaved, ``--runs`` times each. A child times its
case's loop itself (imports and set-up excluded) and prints the seconds. For each pair
of runs (one ``h``, one ``p``, back to back) the ratio ``p / h`` is taken, and the
median of those ratios is printed beside the median times: pairing cancels most of the
load that other processes put on the machine, which only ever slows a run down.

Cases:

- ``sections``: 20 000 × ``Section()``, set ``L``, ``diam``, ``nseg``, ``insert("hh")``,
  ``connect`` to the previous one;
- ``synapses``: 1 000 hh sections, then 5 000 × { ``ExpSyn(section)`` (with ``h``:
  ``ExpSyn(section(0.5))``, which raw NEURON needs), ``tau = 2``, ``NetStim()``, set
  ``start``, ``number``, ``interval``, ``noise``, ``NetCon(stim, syn)``,
  ``weight[0] = w``, ``delay = d`` }, the loop timed;
- ``pp_setattr``: ``ns.start = 1.0`` on a NetStim, per set;
- ``pp_getattr``: ``ns.start`` read on a NetStim, per read;
- ``nc_setattr``: ``nc.delay = 1.0`` on a NetCon (NetStim to ExpSyn), per set;
- ``expsyn_segment``: ``ExpSyn(section(0.5))``, per point process;
- ``expsyn_section``: ``p.ExpSyn(section)`` against ``p.ExpSyn(section(0.5))`` (both
  ``p``: the ratio is section / segment, interleaved inside one process per run);
- ``fadvance``: ``fadvance()`` in a Python loop, one hh section, 100 000 steps;
- ``read_t``, ``write_celsius``: a hoc global read (``t``) and written (``celsius``);
- ``graphs``: build, drop and ``gc.collect()`` 10 000 synapse graphs (two sections, an
  ExpSyn, a NetStim, a NetCon), the collection also timed alone;
- ``sec.L``, ``seg.v``, ``sec(0.5).v``: 200 000 reads and writes each;
- ``broadcast``: under ``mpiexec -n 2``, one 1 KB broadcast (numpy array, dict) after a
  barrier, ``p.parallel.broadcast`` against mpi4py's ``comm.bcast`` in the same process:
  20 pairs of adjacent blocks of 100 (order alternating), each block's time the slower
  rank's; a world's ratio is the median over its pairs, and the printed one the median
  over ``--mpi-runs`` fresh worlds (11), with the spread of the worlds' ratios, which
  differ more between worlds than within one. Printed as Patch's throughput over
  mpi4py's (higher is better, so ``≥ 1`` is the goal there).

Machines are noisy: compare ratios from one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import patch

# -- the cases: each is sent to a child as source code and called with the simulator -------
# A case returns {metric: seconds}; the first metric is the case's headline.


def case_sections(sim: Any) -> dict[str, float]:
    start = time.perf_counter()
    previous = None
    chain = []
    for _ in range(20_000):
        section = sim.Section()
        section.L = 100
        section.diam = 2
        section.nseg = 3
        section.insert("hh")
        if previous is not None:
            section.connect(previous)
        chain.append(section)
        previous = section
    return {"loop": time.perf_counter() - start}


def case_synapses(sim: Any) -> dict[str, float]:
    sections = []
    for _ in range(1_000):
        section = sim.Section()
        section.insert("hh")
        sections.append(section)
    raw = sim.__class__.__module__ == "hoc"  # neuron.h needs a segment
    kept = []
    start = time.perf_counter()
    for i in range(5_000):
        section = sections[i % 1_000]
        syn = sim.ExpSyn(section(0.5) if raw else section)
        syn.tau = 2
        stim = sim.NetStim()
        stim.start = 5
        stim.number = 10
        stim.interval = 10
        stim.noise = 0.5
        nc = sim.NetCon(stim, syn)
        nc.weight[0] = 0.01
        nc.delay = 1
        kept.append((syn, stim, nc))
    return {"loop": time.perf_counter() - start}


def case_pp_setattr(sim: Any) -> dict[str, float]:
    ns = sim.NetStim()
    n = 200_000
    start = time.perf_counter()
    for _ in range(n):
        ns.start = 1.0
    return {"per set": (time.perf_counter() - start) / n}


def case_pp_getattr(sim: Any) -> dict[str, float]:
    ns = sim.NetStim()
    n = 200_000
    start = time.perf_counter()
    for _ in range(n):
        ns.start
    return {"per read": (time.perf_counter() - start) / n}


def case_nc_setattr(sim: Any) -> dict[str, float]:
    section = sim.Section()
    syn = sim.ExpSyn(section(0.5))
    stim = sim.NetStim()  # held: raw NEURON frees a NetCon's source otherwise
    nc = sim.NetCon(stim, syn)
    n = 200_000
    start = time.perf_counter()
    for _ in range(n):
        nc.delay = 1.0
    return {"per set": (time.perf_counter() - start) / n}


def case_expsyn_segment(sim: Any) -> dict[str, float]:
    section = sim.Section()
    n = 20_000
    kept = []
    start = time.perf_counter()
    for _ in range(n):
        kept.append(sim.ExpSyn(section(0.5)))
    return {"per ExpSyn": (time.perf_counter() - start) / n}


def case_expsyn_section(sim: Any) -> dict[str, float]:
    # Both forms with p (the h child runs the segment form twice): section / segment.
    section = sim.Section()
    raw = sim.__class__.__module__ == "hoc"
    n, blocks = 2_000, 10
    times: dict[str, float] = {"section": 0.0, "segment": 0.0}
    kept = []
    for _ in range(blocks):
        for form in ("section", "segment"):
            start = time.perf_counter()
            for _ in range(n):
                kept.append(sim.ExpSyn(section if form == "section" and not raw else section(0.5)))
            times[form] += time.perf_counter() - start
            kept.clear()
    return {
        "per ExpSyn(section)": times["section"] / (n * blocks),
        "per ExpSyn(section(0.5))": times["segment"] / (n * blocks),
    }


def case_fadvance(sim: Any) -> dict[str, float]:
    section = sim.Section()
    section.insert("hh")
    sim.finitialize(-65)
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        sim.fadvance()
    return {"per step": (time.perf_counter() - start) / n}


def case_read_t(sim: Any) -> dict[str, float]:
    n = 500_000
    start = time.perf_counter()
    for _ in range(n):
        sim.t
    return {"per read": (time.perf_counter() - start) / n}


def case_write_celsius(sim: Any) -> dict[str, float]:
    n = 500_000
    start = time.perf_counter()
    for _ in range(n):
        sim.celsius = 6.3
    return {"per write": (time.perf_counter() - start) / n}


def case_graphs(sim: Any) -> dict[str, float]:
    import gc

    start = time.perf_counter()
    for _ in range(10_000):
        soma = sim.Section()
        dend = sim.Section()
        dend.connect(soma)
        synapse = sim.ExpSyn(dend(0.5))
        stimulus = sim.NetStim()
        sim.NetCon(stimulus, synapse)
        del soma, dend, synapse, stimulus
    collect = time.perf_counter()
    gc.collect()
    end = time.perf_counter()
    return {"build+drop+collect": end - start, "collect": end - collect}


def case_sec_l(sim: Any) -> dict[str, float]:
    section = sim.Section()
    start = time.perf_counter()
    for _ in range(200_000):
        section.L = section.L
    return {"loop": time.perf_counter() - start}


def case_seg_v(sim: Any) -> dict[str, float]:
    segment = sim.Section()(0.5)
    start = time.perf_counter()
    for _ in range(200_000):
        segment.v = segment.v
    return {"loop": time.perf_counter() - start}


def case_sec_half_v(sim: Any) -> dict[str, float]:
    section = sim.Section()
    start = time.perf_counter()
    for _ in range(200_000):
        section(0.5).v = section(0.5).v
    return {"loop": time.perf_counter() - start}


#: (name, label, case, goal for the headline p / h ratio)
CASES: list[tuple[str, str, Callable[[Any], dict[str, float]], str]] = [
    ("sections", "20 000 sections, L/diam/nseg/hh/connect", case_sections, "<= 1.2"),
    ("synapses", "5 000 synapse+stim+netcon, configured", case_synapses, "<= 1.5"),
    ("pp_setattr", "ns.start = 1.0", case_pp_setattr, "<= 1.3"),
    ("pp_getattr", "ns.start (read)", case_pp_getattr, "<= 1.3"),
    ("nc_setattr", "nc.delay = 1.0", case_nc_setattr, "<= 1.3"),
    ("expsyn_segment", "ExpSyn(section(0.5))", case_expsyn_segment, "<= 1.5"),
    ("fadvance", "fadvance(), 1 hh section", case_fadvance, "<= 1.2"),
    ("read_t", "read t", case_read_t, "<= 1.2"),
    ("write_celsius", "write celsius = 6.3", case_write_celsius, "<= 1.2"),
    ("graphs", "build/drop/collect 10 000 graphs", case_graphs, "<= 2"),
    ("sec.L", "200 000 sec.L read+write", case_sec_l, "<= 1.2"),
    ("seg.v", "200 000 seg.v read+write", case_seg_v, "<= 1.2"),
    ("sec(0.5).v", "200 000 sec(0.5).v read+write", case_sec_half_v, "<= 1.2"),
]

IMPORTS = {"h": "from neuron import h as sim", "p": "from patch import p as sim"}

#: The folder holding the ``patch`` this process imported: children run there first on
#: ``sys.path``, so they measure this Patch.
PATCH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(patch.__file__)))

CHILD = """\
from __future__ import annotations
import json
import time
from typing import Any
{imports}
{source}
print("BENCH", json.dumps({name}(sim)))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (PATCH_ROOT, env.get("PYTHONPATH"))))
    if "DISPLAY" not in env:
        env.setdefault("NEURON_MODULE_OPTIONS", "-nogui")  # as Patch does: same for h
    for key in list(env):  # a child mpiexec must not see a parent launcher's variables
        if key.startswith(("PMI_", "PMIX_", "OMPI_", "MPI_LOCALRANKID", "HYDRA_")):
            del env[key]
    return env


def _bench_line(done: subprocess.CompletedProcess[str], what: str) -> Any:
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{what} failed:\n{done.stdout}{done.stderr}")
    return json.loads(lines[-1].split(" ", 1)[1])


def fresh_once(case: Callable[[Any], dict[str, float]], sim: str) -> dict[str, float]:
    """The figures of one fresh child running ``case`` with ``sim``."""
    code = CHILD.format(imports=IMPORTS[sim], source=inspect.getsource(case), name=case.__name__)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=PATCH_ROOT,
        check=False,
    )
    result: dict[str, float] = _bench_line(done, f"fresh {sim} run of {case.__name__}")
    return result


def paired(case: Callable[[Any], dict[str, float]], runs: int) -> dict[str, Any]:
    """Median times per simulator and the median of paired ``p / h`` ratios, per metric."""
    times: dict[str, list[dict[str, float]]] = {"h": [], "p": []}
    for index in range(runs):
        order = ("h", "p") if index % 2 == 0 else ("p", "h")  # neither always goes first
        for sim in order:
            times[sim].append(fresh_once(case, sim))
    metrics = list(times["h"][0])
    return {
        metric: {
            "h": statistics.median(run[metric] for run in times["h"]),
            "p": statistics.median(run[metric] for run in times["p"]),
            "ratio": statistics.median(
                p_run[metric] / h_run[metric]
                for h_run, p_run in zip(times["h"], times["p"], strict=False)
            ),
        }
        for metric in metrics
    }


def section_against_segment(runs: int) -> dict[str, float]:
    """``p.ExpSyn(section)`` / ``p.ExpSyn(section(0.5))``, one ratio per fresh ``p`` run."""
    ratios, sections, segments = [], [], []
    for _ in range(runs):
        result = fresh_once(case_expsyn_section, "p")
        section, segment = result["per ExpSyn(section)"], result["per ExpSyn(section(0.5))"]
        ratios.append(section / segment)
        sections.append(section)
        segments.append(segment)
    return {
        "section": statistics.median(sections),
        "segment": statistics.median(segments),
        "ratio": statistics.median(ratios),
    }


# -- broadcast under mpiexec -n 2 ------------------------------------------------------

BROADCAST_CHILD = textwrap.dedent("""\
    import json, statistics, time
    import numpy as np
    from patch import p
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    payloads = {
        "numpy": np.arange(128, dtype=np.float64),
        "dict": {"ids": [1 << 40 | i for i in range(28)],
                 "values": [i * 0.5 for i in range(28)], "label": ["x"]},
    }
    COUNT, PAIRS = 100, 20
    def patch_bcast(data):
        return p.parallel.broadcast(data, root=0)
    def mpi4py_bcast(data):
        return comm.bcast(data, root=0)
    def block(send, data):
        spent = 0.0
        for _ in range(COUNT):
            comm.Barrier()
            start = time.perf_counter()
            send(data)
            spent += time.perf_counter() - start
        # The broadcast ends when the last rank has it: the slower rank's time counts.
        return comm.allreduce(spent / COUNT, op=MPI.MAX)
    figures = {}
    for kind, payload in payloads.items():
        data = payload if comm.rank == 0 else None
        block(patch_bcast, data)
        block(mpi4py_bcast, data)  # first uses out of the way for both
        times = {"patch": [], "mpi4py": []}
        for pair in range(PAIRS):
            order = ("patch", "mpi4py") if pair % 2 == 0 else ("mpi4py", "patch")
            for method in order:
                send = patch_bcast if method == "patch" else mpi4py_bcast
                times[method].append(block(send, data))
        figures[kind] = {
            "patch": statistics.median(times["patch"]),
            "mpi4py": statistics.median(times["mpi4py"]),
            # Throughput ratio of each pair of adjacent blocks: mpi4py's time / Patch's.
            "ratio": statistics.median(m / q for m, q in zip(times["mpi4py"], times["patch"])),
        }
    if comm.rank == 0:
        print("BENCH", json.dumps(figures), flush=True)
""")


def broadcast(runs: int) -> dict[str, dict[str, Any]]:
    """Per payload: median seconds per broadcast and throughput ratio over fresh worlds, and
    the spread of the worlds' ratios (each world's ratio: the median of its block pairs)."""
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
    per_run = []
    for _ in range(runs):
        done = subprocess.run(
            [mpiexec, "-n", "2", sys.executable, "-c", BROADCAST_CHILD],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=PATCH_ROOT,
            check=False,
            timeout=600,
        )
        per_run.append(_bench_line(done, "broadcast run"))
    figures: dict[str, dict[str, Any]] = {}
    for kind in per_run[0]:
        ratios = sorted(run[kind]["ratio"] for run in per_run)
        figures[kind] = {
            "mpi4py": statistics.median(run[kind]["mpi4py"] for run in per_run),
            "patch": statistics.median(run[kind]["patch"] for run in per_run),
            "ratio": statistics.median(ratios),
            "worlds": ratios,
        }
    return figures


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.3f} µs"
    return f"{seconds * 1e3:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh runs per case and simulator")
    parser.add_argument("--mpi-runs", type=int, default=11, help="fresh mpiexec runs (0: skip)")
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    args = parser.parse_args()
    wanted = set(args.only or [])
    print(f"fresh process per case, h and p interleaved, median of {args.runs} paired ratios")
    print(f"{'case':44} {'metric':26} {'h':>12} {'p':>12} {'p / h':>6}  goal")
    for name, label, case, goal in CASES:
        if wanted and name not in wanted:
            continue
        for index, (metric, figures) in enumerate(paired(case, args.runs).items()):
            print(
                f"{label if index == 0 else '':44} {metric:26} {_fmt(figures['h'])} "
                f"{_fmt(figures['p'])} {figures['ratio']:6.2f}  {goal if index == 0 else ''}",
                flush=True,
            )
    if not wanted or "expsyn_section" in wanted:
        result = section_against_segment(args.runs)
        print(
            f"{'p.ExpSyn(section) / p.ExpSyn(section(0.5))':44} {'per ExpSyn':26} "
            f"{_fmt(result['segment'])} {_fmt(result['section'])} {result['ratio']:6.2f}  "
            "<= 1.1 (h column: the segment form)",
            flush=True,
        )
    if args.mpi_runs > 0 and (not wanted or "broadcast" in wanted):
        print(
            f"\n1 KB broadcast after a barrier, 2 ranks: {args.mpi_runs} fresh worlds, each "
            "20 pairs of interleaved blocks; median over worlds of each world's median pair"
        )
        print(
            f"{'payload':10} {'mpi4py':>12} {'patch':>12} {'throughput patch/mpi4py':>24}  "
            f"{'goal':6} worlds' ratios: min, quartiles, max"
        )
        for kind, figures in broadcast(args.mpi_runs).items():
            ratios = figures["worlds"]
            quartiles = (
                statistics.quantiles(ratios, n=4, method="inclusive")
                if len(ratios) > 1
                else ratios * 3
            )
            spread = [ratios[0], *quartiles, ratios[-1]]
            print(
                f"{kind:10} {_fmt(figures['mpi4py'])} {_fmt(figures['patch'])} "
                f"{figures['ratio']:24.2f}  {'>= 1':6} " + " ".join(f"{r:.2f}" for r in spread),
                flush=True,
            )


if __name__ == "__main__":
    main()
