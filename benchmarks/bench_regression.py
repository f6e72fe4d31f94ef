"""What golden checks cost: traces, spikes, golden size, and against a bare comparison.

Runs a real pytest session (in a temporary folder) whose tests time their own checks:

- 20 traces of 100 000 points from a 100 ms run of 20 multi-compartment cells, checked
  against their goldens (reading the file included), against the simulation's time;
- 100 000 spikes of 1 000 gids checked against their golden;
- the size of a 100 000-point trace's golden against its raw float64 values;
- a passing ``trace_regression.check`` against ``assert_traces_equal`` on the same arrays.

Run: ``python benchmarks/bench_regression.py``. Figures come from one run: this machine
is noisy, so compare the ratios, not the absolute times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

TESTS = '''
import json
import time

import numpy as np
from patch import SPIKE_DTYPE
from pytest_patch import assert_traces_equal

OUT = {out!r}
REPEAT = 5


def record(name, value):
    figures = json.loads(open(OUT).read()) if __import__("os").path.exists(OUT) else {{}}
    figures[name] = value
    open(OUT, "w").write(json.dumps(figures))


def cells(p, recording, count=20):
    """Multi-compartment cells: a soma and four 5-segment dendrites each, Hodgkin-Huxley."""
    model, traces = [], {{}}
    for index in range(count):
        soma = p.Section(name=f"soma{{index}}")
        soma.L = soma.diam = 20
        soma.insert("hh")
        for branch in range(4):
            dend = p.Section(name=f"dend{{index}}_{{branch}}")
            dend.L, dend.diam, dend.nseg = 200, 1, 5
            dend.insert("pas")
            dend.connect(soma)
            model.append(dend)
        soma.iclamp(amp=0.3 + 0.01 * index, delay=5, duration=90)
        model.append(soma)
        traces[f"cell{{index}}"] = recording(soma)
    return model, traces


def test_traces(p, recording, trace_regression):
    model, traces = cells(p, recording)
    p.dt = 0.001
    p.steps_per_ms = 1000
    start = time.perf_counter()
    p.run(100)
    record("simulation", time.perf_counter() - start)
    record("points", len(traces["cell0"]))
    arrays = {{name: (rec.time, rec.values) for name, rec in traces.items()}}
    start = time.perf_counter()
    trace_regression.check(arrays)  # the first run writes the golden
    record("write", time.perf_counter() - start)


def test_traces_check(p, trace_regression):
    # The golden of test_traces, read back as the arrays a run would produce.
    from pytest_patch.regression import golden
    folder = __import__("pathlib").Path(__file__).with_suffix("")
    stored = golden.read(folder / "test_traces.traces.npz", "traces")
    arrays = {{name: (t.copy(), v.copy()) for name, (t, v) in stored.data.items()}}
    best, bare = [], []
    for _ in range(REPEAT):
        trace_regression._names.clear()
        start = time.perf_counter()
        trace_regression.check(arrays, name="again")
        best.append(time.perf_counter() - start)
    # What the check adds: assert_traces_equal on the same arrays, already in memory.
    for _ in range(REPEAT):
        start = time.perf_counter()
        for name, (t, v) in arrays.items():
            assert_traces_equal(v, stored.data[name][1], rtol=1e-6, atol=1e-6)
        bare.append(time.perf_counter() - start)
    record("check", min(best))
    record("bare", min(bare))
    # Data within tolerance but not bit-identical: the golden is read and compared.
    nudged = {{name: (t, v + 1e-9) for name, (t, v) in arrays.items()}}
    close = []
    for _ in range(REPEAT):
        trace_regression._names.clear()
        start = time.perf_counter()
        trace_regression.check(nudged, name="again")
        close.append(time.perf_counter() - start)
    record("close", min(close))


def spikes():
    rng = np.random.default_rng(1)
    data = np.zeros(100_000, dtype=SPIKE_DTYPE)
    data["gid"] = rng.integers(0, 1000, data.size)
    data["time"] = rng.uniform(0, 1000, data.size)
    return data


def test_spikes(spike_regression):
    spike_regression.check(spikes())


def test_spikes_check(spike_regression):
    data, best = spikes(), []
    for _ in range(REPEAT):
        spike_regression._names.clear()
        start = time.perf_counter()
        spike_regression.check(data)
        best.append(time.perf_counter() - start)
    record("spikes", min(best))
    data["time"] += 1e-7  # within the window, not bit-identical: read and matched
    close = []
    for _ in range(REPEAT):
        spike_regression._names.clear()
        start = time.perf_counter()
        spike_regression.check(data)
        close.append(time.perf_counter() - start)
    record("spikes_close", min(close))
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        out = root / "figures.json"
        tests = root / "test_bench.py"
        tests.write_text(textwrap.dedent(TESTS.format(out=str(out))))
        (root / "test_bench").mkdir()
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            str(tests),
        ]
        # The first session writes the goldens (--nrn-regen), the second checks them.
        subprocess.run(command + ["--nrn-regen"], cwd=root, check=True, capture_output=True)
        done = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stdout + done.stderr)
        figures = json.loads(out.read_text())
        golden = root / "test_bench" / "test_traces.traces.npz"
        if not golden.exists():
            sys.exit("no golden was written")
        raw = figures["points"] * 8 * 20
        size = golden.stat().st_size
    check, simulation = figures["check"], figures["simulation"]
    print(f"20 traces x {figures['points']} points, 100 ms of 20 cells (5 sections each)")
    print(f"  simulation                      {simulation * 1e3:8.1f} ms")
    print(
        f"  trace check, reading the golden {check * 1e3:8.1f} ms   goal <= 100 ms; "
        f"{check / simulation:.1%} of the simulation (goal <= 10%)"
    )
    print(
        f"  the same, data within tolerance {figures['close'] * 1e3:8.1f} ms   (not bit-identical: "
        "the golden is read and compared)"
    )
    print(
        f"  assert_traces_equal, same data  {figures['bare'] * 1e3:8.1f} ms   the check costs "
        f"{check / figures['bare']:.2f}x a bare comparison "
        f"(+{(check - figures['bare']) * 1e3:.1f} ms)"
    )
    print(
        f"  golden file                     {size / 1e6:8.2f} MB   {size / raw:.2f}x the raw "
        f"float64 values ({raw / 1e6:.1f} MB; time axes included, lossless)"
    )
    print("100 000 spikes of 1 000 gids")
    print(f"  spike check, reading the golden {figures['spikes'] * 1e3:8.1f} ms   goal <= 50 ms")
    print(
        f"  the same, within the window     {figures['spikes_close'] * 1e3:8.1f} ms   "
        "(not bit-identical: "
        "the golden is read and matched)"
    )


if __name__ == "__main__":
    main()
