"""Broadcast throughput: Patch's pickle broadcast against mpi4py and a hoc Vector.

Run with ``mpiexec -n 2 python benchmarks/bench_broadcast.py``. For each payload (a
numpy array and a dict of lists, at 1 KB, 1 MB and 32 MB) rank 0 prints the throughput of
``p.parallel.broadcast``, of mpi4py's ``comm.bcast``, and of the classic approach of
pickling into a NEURON Vector of byte values sent with ``ParallelContext.broadcast``,
plus the ratio Patch/mpi4py: the best of three interleaved rounds, as other load on the
machine only ever slows a round down. Pass ``--quick`` for a single, shorter round
(``--fresh-only`` skips this table).

Then the 1 KB payloads in fresh processes, as a user's script meets them: rank 0 starts a
new ``mpiexec -n 2 python -c`` per run (``--fresh`` runs per method, Patch and mpi4py
interleaved, medians; 0 skips this), whose ranks import either Patch (``from patch
import p``) or NEURON and mpi4py without Patch (``from neuron import h``, ``from mpi4py
import MPI``), then broadcast the payload ``FRESH_COUNT`` times, the first broadcast
included. Printed: the throughput of those broadcasts (timed inside the child, after the
imports) and its ratio Patch/mpi4py; the same from the median broadcast's time, which a
few milliseconds' descheduling of a busy-polling rank (common with as many ranks as
cores) does not move; and the whole run's wall time (``mpiexec`` start to exit, imports
included) and its ratio Patch/raw (lower is better there).
"""

from __future__ import annotations

import os
import pickle
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from mpi4py import MPI

import patch
from patch import p

SIZES = {"1 KB": 1 << 10, "1 MB": 1 << 20, "32 MB": 32 << 20}
FRESH_COUNT = 1000  # broadcasts per fresh run
FRESH_RUNS = 9  # fresh worlds differ by up to ±30 % in small-broadcast latency
# Each measurement runs for about this long (seconds), at least a few repetitions.
BUDGET = 0.2 if "--quick" in sys.argv else 0.5
ROUNDS = 1 if "--quick" in sys.argv else 3


def numpy_payload(nbytes: int) -> np.ndarray:
    return np.arange(nbytes // 8, dtype=np.float64)


def dict_payload(nbytes: int) -> dict[str, list[Any]]:
    """About ``nbytes`` once pickled: ints and floats (9 bytes each) in two lists."""
    count = max(nbytes // 18, 1)
    return {
        "ids": [1 << 40 | i for i in range(count)],
        "values": [i * 0.5 for i in range(count)],
        "label": ["x"],
    }


def vector_broadcast(data: Any, root: int = 0) -> Any:
    """The pre-Patch way: pickle bytes as Vector elements, ``pc.broadcast``, unpickle."""
    pc = p.parallel
    vector = p.Vector()
    if pc.id() == root:
        vector.from_python(np.frombuffer(pickle.dumps(data), dtype=np.uint8))
    pc.baseattr("broadcast")(vector, root)
    return pickle.loads(vector.as_numpy().astype(np.uint8).tobytes())


def throughput(send: Callable[[Any], Any], data: Any, nbytes: int, comm: Any) -> float:
    """MB/s of ``send(data)``, timed on rank 0 over repetitions agreed by all ranks."""
    comm.Barrier()
    start = time.perf_counter()
    send(data)  # also warms up
    comm.Barrier()
    once = comm.bcast(time.perf_counter() - start, root=0)
    repeats = int(min(max(BUDGET / max(once, 1e-9), 1), 5000))
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(repeats):
        send(data)
    comm.Barrier()
    elapsed = time.perf_counter() - start
    return nbytes * repeats / elapsed / 1e6


def best_of(
    rounds: int, methods: dict[str, Callable[[Any], Any]], data: Any, comm: Any
) -> dict[str, float]:
    """The best throughput of each method over ``rounds`` interleaved rounds (less noise)."""
    nbytes = len(pickle.dumps(data, protocol=5))
    best = dict.fromkeys(methods, 0.0)
    for round_ in range(rounds):
        for name, send in methods.items():
            # The Vector approach needs seconds for the large payloads: measure it once.
            if name == "vector" and round_ and nbytes > (1 << 20):
                continue
            best[name] = max(best[name], throughput(send, data, nbytes, comm))
    return best


# -- fresh processes ------------------------------------------------------------------

FRESH_IMPORTS = {
    "patch": "from patch import p\nfrom mpi4py import MPI\n"
    "send = lambda data: p.parallel.broadcast(data, root=0)",
    "mpi4py": "from neuron import h\nfrom mpi4py import MPI\n"
    "send = lambda data: MPI.COMM_WORLD.bcast(data, root=0)",
}

# Each rank imports, then times FRESH_COUNT broadcasts (the first one included).
FRESH_CHILD = """\
import time
started = time.perf_counter()
{imports}
import numpy as np
imported = time.perf_counter()
comm = MPI.COMM_WORLD
nbytes = {nbytes}
if "{kind}" == "numpy":
    payload = np.arange(nbytes // 8, dtype=np.float64)
else:
    count = max(nbytes // 18, 1)
    payload = {{"ids": [1 << 40 | i for i in range(count)],
               "values": [i * 0.5 for i in range(count)], "label": ["x"]}}
data = payload if comm.Get_rank() == 0 else None
times = []
comm.Barrier()
start = time.perf_counter()
for _ in range({count}):
    sent = time.perf_counter()
    send(data)
    times.append(time.perf_counter() - sent)
comm.Barrier()
elapsed = time.perf_counter() - start
if comm.Get_rank() == 0:
    import pickle
    median = sorted(times)[len(times) // 2]
    print("BENCH", len(pickle.dumps(payload, protocol=5)), imported - started, elapsed, median)
"""

#: The folder holding the ``patch`` this process imported: children run there (``python
#: -c`` puts its working folder first on ``sys.path``) with it first on ``PYTHONPATH``.
PATCH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(patch.__file__)))

# What a launcher tells its ranks; a child mpiexec must not see its parent's.
_LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "HYDI_", "OMPI_", "MPI_LOCAL", "MPIR_", "MV2_")


def fresh_once(method: str, kind: str, nbytes: int) -> tuple[float, float, float]:
    """MB/s of the broadcasts (all; from the median one) and wall seconds of the whole run,
    of one fresh 2-rank run."""
    code = FRESH_CHILD.format(
        imports=FRESH_IMPORTS[method], kind=kind, nbytes=nbytes, count=FRESH_COUNT
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCHER_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (PATCH_ROOT, env.get("PYTHONPATH"))))
    if "DISPLAY" not in env:
        env.setdefault("NEURON_MODULE_OPTIONS", "-nogui")  # as Patch does: same for both
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
    start = time.perf_counter()
    done = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=PATCH_ROOT,
        check=False,
    )
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"fresh {method} run failed:\n{done.stdout}{done.stderr}")
    pickled, _imported, elapsed, median = (float(value) for value in lines[-1].split()[1:])
    return pickled * FRESH_COUNT / elapsed / 1e6, pickled / median / 1e6, wall


def fresh_table(comm: Any, runs: int) -> None:
    """Rank 0 runs the fresh 1 KB cases; the other ranks wait without spinning."""
    if comm.Get_rank() != 0:
        request = comm.Ibarrier()
        while not request.Test():
            time.sleep(0.05)  # MPI's own wait would spin, taking a core from the runs
        return
    try:
        _fresh_rows(runs)
    finally:  # release the other ranks even when a run fails
        comm.Ibarrier().Wait()


def _fresh_rows(runs: int) -> None:
    print(
        f"\nfresh 2-rank runs, 1 KB payloads: {FRESH_COUNT} broadcasts each, the first "
        f"included; median of {runs}"
    )
    print(f"{'':<22}{'all broadcasts, MB/s':>26}{'median broadcast, MB/s':>28}{'whole run':>28}")
    print(
        f"{'payload':<22}{'patch':>8}{'mpi4py':>9}{'ratio':>9}{'patch':>10}{'mpi4py':>9}{'ratio':>9}"
        f"{'patch':>10}{'raw':>8}{'patch/raw':>10}"
    )
    for kind in ("numpy", "dict of lists"):
        results: dict[str, list[tuple[float, float, float]]] = {"patch": [], "mpi4py": []}
        for _ in range(runs):
            for method in ("patch", "mpi4py"):
                results[method].append(fresh_once(method, kind.split()[0], SIZES["1 KB"]))
        rate, typical, wall = (
            {m: statistics.median(r[i] for r in v) for m, v in results.items()} for i in range(3)
        )
        print(
            f"{kind + ' 1 KB':<22}{rate['patch']:>8.1f}{rate['mpi4py']:>9.1f}"
            f"{rate['patch'] / rate['mpi4py']:>8.2f}x"
            f"{typical['patch']:>10.1f}{typical['mpi4py']:>9.1f}"
            f"{typical['patch'] / typical['mpi4py']:>8.2f}x"
            f"{wall['patch']:>9.2f}s{wall['mpi4py']:>7.2f}s{wall['patch'] / wall['mpi4py']:>9.2f}x",
            flush=True,
        )


def main() -> None:
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if comm.Get_size() < 2:
        print("run me under mpiexec -n 2 (or more) to measure anything useful")
    methods: dict[str, Callable[[Any], Any]] = {
        "patch": lambda data: p.parallel.broadcast(data if rank == 0 else None, root=0),
        "mpi4py": lambda data: comm.bcast(data if rank == 0 else None, root=0),
        "vector": lambda data: vector_broadcast(data if rank == 0 else None, root=0),
    }
    if rank == 0:
        print(f"{comm.Get_size()} ranks; throughput in MB/s of payload (pickled size)")
        print(f"{'payload':<22}{'patch':>10}{'mpi4py':>10}{'vector':>10}{'patch/mpi4py':>14}")
    for kind, build in (("numpy", numpy_payload), ("dict of lists", dict_payload)):
        for label, size in SIZES.items():
            if "--fresh-only" in sys.argv:
                break
            row = best_of(ROUNDS, methods, build(size), comm)
            if rank == 0:
                ratio = row["patch"] / row["mpi4py"]
                print(
                    f"{kind + ' ' + label:<22}{row['patch']:>10.1f}{row['mpi4py']:>10.1f}"
                    f"{row['vector']:>10.1f}{ratio:>13.2f}x",
                    flush=True,
                )
    runs = FRESH_RUNS
    if "--fresh" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--fresh") + 1])
    if runs > 0 and comm.Get_size() > 1:
        fresh_table(comm, runs)


if __name__ == "__main__":
    main()
