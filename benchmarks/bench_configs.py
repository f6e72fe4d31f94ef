"""What a configuration matrix costs: the example's ``nrn_configs`` test against bare runs.

1. The whole matrix of ``examples/cortical_column``'s
   ``test_column_raster_in_every_configuration`` (ranks 1/2 x threads 1/2 x NEURON/CoreNEURON)
   under ``pytest``, against the same eight simulations run bare, each in a fresh process
   (``python`` or ``mpiexec -n 2 python``), which pays one launch per simulation.
2. The cost of one more test in a rank-count batch: a child ``mpiexec -n 2`` run of 2K
   small tests against one of K, per added test.

Run: ``python benchmarks/bench_configs.py`` (after the example's mechanisms are compiled
once, e.g. by its tests). Figures come from one run: compare the ratios.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cortical_column"
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

BARE = """
import sys, time
sys.path.insert(0, ".")
from column import V_REST, Column
from patch import p

threads, coreneuron = int(sys.argv[1]), sys.argv[2] == "1"
column = Column()
spikes = p.parallel.record_spikes()
p.parallel.nthread(threads)
p.coreneuron.enable = coreneuron
p.coreneuron.verbose = 0
p.v_init = V_REST
start = time.perf_counter()
p.run(150)
spikes.gather()
if p.parallel.rank == 0:
    print(time.perf_counter() - start)
"""

BATCH = """
import pytest


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("index", range({count}))
def test_small(p, index):
    section = p.Section()
    section.insert("pas")
    p.run(1)
"""


def timed(command: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start, done.stdout


def matrix() -> None:
    pytest_ = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    timed(pytest_ + ["-k", "configuration"], EXAMPLE)  # compiles and caches what it needs
    whole, _ = timed(pytest_ + ["-k", "configuration"], EXAMPLE)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bare.py"
        script.write_text(BARE)
        walls, simulations = [], []
        for ranks, threads, coreneuron in itertools.product((1, 2), (1, 2), (0, 1)):
            launch = [MPIEXEC, "-n", "2"] if ranks == 2 else []
            wall, out = timed(
                [*launch, sys.executable, str(script), str(threads), str(coreneuron)], EXAMPLE
            )
            walls.append(wall)
            simulations.append(float(out.split()[-1]))
    startup = min(w - s for w, s in zip(walls, simulations, strict=False))
    # A launch: a pytest session of this repository that runs nothing, serially and on 2 ranks.
    empty = ["-p", "no:cacheprovider", "-q", "-k", "no_such_test"]
    nothing = (0, 5)  # pytest's "no tests ran"
    serial, _ = timed([sys.executable, "-m", "pytest", *empty], EXAMPLE, nothing)
    parallel, _ = timed(
        [MPIEXEC, "-n", "2", sys.executable, "-m", "pytest", "--with-mpi", *empty], EXAMPLE, nothing
    )
    budget = 1.3 * sum(simulations) + serial + parallel  # one launch per rank count
    print("nrn_configs matrix of the example (8 combinations of a 20-cell, 150 ms column)")
    print(f"  the matrix under pytest          {whole:6.2f} s")
    print(
        f"  8 bare runs, a process each      {sum(walls):6.2f} s   "
        f"(their simulations {sum(simulations):.2f} s; a launch {startup:.2f} s)"
    )
    print(
        f"  a pytest launch of the repository {serial:.2f} s serially, {parallel:.2f} s on 2 ranks"
    )
    print(
        f"  matrix / (1.3 x simulations + one launch per rank count) = {whole / budget:.2f}"
        "   goal <= 1"
    )
    print(f"  matrix / bare runs               {whole / sum(walls):6.2f}")


def batch() -> None:
    counts = (10, 160)
    times = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for count in counts:
            (root / "test_batch.py").write_text(BATCH.format(count=count))
            wall, _ = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], root)
            times.append(wall)
    per_test = (times[1] - times[0]) / (counts[1] - counts[0])
    print("a rank-count batch (child mpiexec -n 2 from a serial pytest)")
    print(
        f"  {counts[0]} tests {times[0]:.2f} s, {counts[1]} tests {times[1]:.2f} s: "
        f"{per_test * 1e3:.0f} ms per added test (its 1 ms simulation included)   goal <= 50 ms"
    )


if __name__ == "__main__":
    matrix()
    batch()
