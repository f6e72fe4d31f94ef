"""What isolation costs: 50 small hoc tests on a model with compiled mechanisms.

    python benchmarks/bench_isolation.py [--tests 50] [--repeat 3]

The suite: each test loads a small hoc protocol (a template cell with the example's
``kadapt`` mechanism, a current step, 50 ms simulated) and counts spikes. It runs three
ways, on a copy of examples/hoc_cell's mechanisms (compiled once, before timing):

- in one process (``nrn_isolate = off``, the leak check off: hoc keeps the cells);
- isolated (``nrn_isolate = test``): each test forked from the warm zygote;
- a fresh ``python`` + NEURON + mechanisms per test: what isolation costs without the
  zygote (one ``python -m pytest`` per test, as a ``--forked``-style runner pays).

Each suite is timed twice, with a small and with the full number of tests; the difference
divided by the number of extra tests is the time per test, so the session's start-up
cancels out (the best of ``--repeat`` each). Printed: ms per test for each way, the ms
isolation adds per test, and the ratios. The goal is at most 50 ms added per test.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hoc_cell"
SMALL = 5

PROTOCOL = """
load_file("stdrun.hoc")
begintemplate BenchCell
public soma, spikes
create soma
objref spikes, detector, nil
proc init() {
    spikes = new Vector()
    soma { L = 20  diam = 20  insert hh  insert kadapt }
    soma detector = new NetCon(&v(0.5), nil)
    detector.threshold = -10
    detector.record(spikes)
}
endtemplate BenchCell
objref cell, stim
cell = new BenchCell()
cell.soma stim = new IClamp(0.5)
stim.del = 5
stim.dur = 40
stim.amp = 0.3
tstop = 50
run()
"""

SUITE = """
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_protocol(p, i, request):
    p.load_file(str(request.config.rootpath / "protocol.hoc"))
    assert p.cell.spikes.size() > 0
"""

INI = "[pytest]\nnrn_mod_dirs = mod\nnrn_leaks = off\nnrn_isolate = {mode}\n"


def seconds(folder: Path, count: int, mode: str) -> float:
    """Wall time of one pytest run of ``count`` tests (``mode``: off, test or fresh)."""
    (folder / "test_bench.py").write_text(SUITE.format(count=count))
    (folder / "pytest.ini").write_text(INI.format(mode="off" if mode == "fresh" else mode))
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if mode == "fresh":
        commands = [[*base, f"test_bench.py::test_protocol[{i}]"] for i in range(count)]
    else:
        commands = [base]
    start = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(
                f"benchmark run failed: {' '.join(command)}\n{done.stdout}{done.stderr}"
            )
    return time.perf_counter() - start


def per_test_ms(folder: Path, count: int, mode: str, repeat: int) -> float:
    """Milliseconds per test, start-up excluded (slope between a small and a full suite)."""
    if mode == "fresh":  # every test pays the start-up: that is the point
        return min(seconds(folder, SMALL, mode) for _ in range(repeat)) * 1000 / SMALL
    small = min(seconds(folder, SMALL, mode) for _ in range(repeat))
    full = min(seconds(folder, count, mode) for _ in range(repeat))
    return (full - small) * 1000 / (count - SMALL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as name:
        folder = Path(name)
        shutil.copytree(EXAMPLE / "mod", folder / "mod")
        (folder / "protocol.hoc").write_text(PROTOCOL)
        seconds(folder, 1, "off")  # compiles the mechanisms into the folder's cache
        one = per_test_ms(folder, args.tests, "off", args.repeat)
        isolated = per_test_ms(folder, args.tests, "test", args.repeat)
        fresh = per_test_ms(folder, args.tests, "fresh", args.repeat)
    added = isolated - one
    print(f"{args.tests} hoc tests with compiled mechanisms, ms per test (best of {args.repeat}):")
    print(f"  one process (no isolation):            {one:8.1f}")
    print(f"  isolated, forked from a warm zygote:   {isolated:8.1f}  (+{added:.1f} ms per test)")
    print(
        f"  a fresh python + NEURON + mechanisms:  {fresh:8.1f}  (+{fresh - one:.1f} ms per test)"
    )
    print(f"  isolated / one process:   {isolated / one:6.2f}x")
    print(f"  fresh / isolated:         {fresh / isolated:6.2f}x")
    print(f"  added per isolated test:  {added:.1f} ms (goal: at most 50 ms)")


if __name__ == "__main__":
    main()
