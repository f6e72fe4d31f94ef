"""What drawing a model costs in a hypothesis test, against building it with NEURON.

    python benchmarks/bench_strategies.py [--examples 300] [--repeat 3]

For ``section_specs``, ``morphology_specs`` and ``network_specs`` (default arguments),
one ``@given`` test runs ``--examples`` examples (generation only, the same seed each
time), three ways:

- ``drawn``: the description is drawn and nothing else;
- ``remade``: the same strategy is made again inside each draw, as a user's
  ``@composite`` body does (the strategies keep what they build per arguments, so this
  should cost little more than ``drawn``);
- ``build``: the description is drawn and built with ``patch.p`` (``.build()``, the
  objects freed at once); only the time spent in the build is counted.

Printed: ms per example for each (the best of ``--repeat``), ``remade / drawn``, and
``drawn / build``: what drawing a model's description costs against building it.
Machines are noisy: compare ratios from one run, not milliseconds across runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings, strategies as st

from pytest_patch.strategies import morphology_specs, network_specs, section_specs

CASES: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "section_specs": section_specs,
    "morphology_specs": morphology_specs,
    "network_specs": network_specs,
}


def per_example(strategy: st.SearchStrategy[Any], examples: int, build: bool) -> float:
    """Process seconds per example of one ``@given`` run of ``strategy``, or of its builds."""
    building = [0.0]

    @seed(20261207)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(description: Any) -> None:
        if build:
            start = time.process_time()
            description.build()
            building[0] += time.process_time() - start

    start = time.process_time()
    run()
    return (building[0] if build else time.process_time() - start) / examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.examples} examples; ms per example, best of {args.repeat}")
    print(
        f"{'strategy':<18}{'drawn':>8}{'remade':>8}{'build':>8}{'remade/drawn':>14}"
        f"{'drawn/build':>13}"
    )
    for name, make in CASES.items():
        ways = {
            "drawn": (make(), False),
            "remade": (st.composite(lambda draw, make=make: draw(make()))(), False),
            "build": (make(), True),
        }
        best = {way: float("inf") for way in ways}
        for _ in range(args.repeat):
            for way, (strategy, build) in ways.items():
                best[way] = min(best[way], per_example(strategy, args.examples, build))
        ms = {way: 1000 * seconds for way, seconds in best.items()}
        print(
            f"{name:<18}{ms['drawn']:>8.2f}{ms['remade']:>8.2f}{ms['build']:>8.2f}"
            f"{ms['remade'] / ms['drawn']:>14.2f}{ms['drawn'] / ms['build']:>13.2f}"
        )


if __name__ == "__main__":
    main()
