"""Patch's overhead against raw ``neuron.h``: the same models built and run both ways.

    python benchmarks/bench_wrapper.py [--repeat 3]

Each case runs alternately with ``h`` and ``p`` in this one process; the best of
``--repeat`` rounds is kept for each, and the ratio ``p / h`` is printed (machines are
noisy: compare ratios from one run, not seconds across runs).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from patch import p  # first: Patch turns NEURON's graphics off when there is no display

from neuron import h  # noqa: I001

h.load_file("stdrun.hoc")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = [
        ("20 000 sections (chain, hh)", best(sections, args.repeat)),
        ("5 000 ExpSyn+NetStim+NetCon", best(triples, args.repeat)),
    ]
    for phase, result in recording_phases(args.repeat).items():
        rows.append((f"record 2 000 sections, 100 ms: {phase}", result))
    for form in ("sec.L", "seg.v", "sec(0.5).v"):
        rows.append(
            (f"200 000 reads+writes of {form}", best(lambda sim: attribute(sim, form), args.repeat))
        )
    rows.append(("build, drop, collect 10 000 graphs", best(build_and_collect, args.repeat)))
    print(f"{'case':45} {'raw h (s)':>10} {'patch p (s)':>12} {'p / h':>7}")
    for label, result in rows:
        print(f"{label:45} {result['h']:10.4f} {result['p']:12.4f} {result['p'] / result['h']:7.2f}")


if __name__ == "__main__":
    main()
