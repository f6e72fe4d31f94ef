"""Broadcast throughput: Patch's pickle broadcast against mpi4py and a hoc Vector.

Run with ``mpiexec -n 2 python benchmarks/bench_broadcast.py``. For each payload (a
numpy array and a dict of lists, at 1 KB, 1 MB and 32 MB) rank 0 prints the throughput of
``p.parallel.broadcast``, of mpi4py's ``comm.bcast``, and of the classic approach of
pickling into a NEURON Vector of byte values sent with ``ParallelContext.broadcast``,
plus the ratio Patch/mpi4py: the best of three interleaved rounds, as other load on the
machine only ever slows a round down. Pass ``--quick`` for a single, shorter round.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from mpi4py import MPI

from patch import p

SIZES = {"1 KB": 1 << 10, "1 MB": 1 << 20, "32 MB": 32 << 20}
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


def best_of(rounds: int, methods: dict[str, Callable[[Any], Any]], data: Any, comm: Any) -> dict[str, float]:
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
            row = best_of(ROUNDS, methods, build(size), comm)
            if rank == 0:
                ratio = row["patch"] / row["mpi4py"]
                print(
                    f"{kind + ' ' + label:<22}{row['patch']:>10.1f}{row['mpi4py']:>10.1f}"
                    f"{row['vector']:>10.1f}{ratio:>13.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
