"""Instructions per 1 KB broadcast on each side, counted with valgrind's callgrind.

    python benchmarks/count_broadcast.py [--calls 4000]

Wall time of a small broadcast moves by ±30 % from one fresh MPI world to the next;
instruction counts do not. For each payload of ``bench_model.py``'s broadcast case (a
1 KB numpy array, a small dict), a child process is run twice under callgrind, making
``--calls`` and then twice as many calls, and the difference divided by ``--calls`` is
printed: what one call costs, start-up excluded (and the garbage collector's passes over
the objects made at start-up, by ``gc.freeze()``). The calls:

- ``patch send``, ``patch receive``: ``p.parallel.broadcast`` on the root and on a
  receiver of a world of two, with mpi4py's ``Bcast`` replaced by a call that does
  nothing (so the Python side only; the receiver's first message is the root's);
- ``pickle.dumps``, ``pickle.loads``: protocol 5, what mpi4py's ``comm.bcast`` spends on
  the same payload (plus two ``MPI_Bcast`` calls made from compiled code);
- ``mpi4py bcast (self)``: ``COMM_SELF.bcast``, mpi4py's whole call on a world of one
  (pickling and unpickling included).

Needs ``valgrind`` on ``PATH``; takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import patch

PAYLOADS = {
    "numpy": "np.arange(128, dtype=np.float64)",
    "dict": '{"ids": [1 << 40 | i for i in range(28)], '
    '"values": [i * 0.5 for i in range(28)], "label": ["x"]}',
}
CALLS = ("patch send", "patch receive", "pickle.dumps", "pickle.loads", "mpi4py bcast (self)")

CHILD = """\
import gc, pickle, sys
import numpy as np
from patch import p
from patch import _collectives

calls, what = int(sys.argv[1]), sys.argv[2]
data = {payload}


# A channel of a world of two whose Bcast does nothing, made without starting MPI: the
# receiver gets the first message the root's broadcast left in it.
channel = _collectives._Channel(None, 1)
channel.Bcast = slice
channel.first = [channel.view, len(channel.view), None]
_collectives.SIZE = 2
_collectives._epoch.channel = channel
p.parallel.broadcast(data, root=0)
sent = data
if what == "patch receive":
    channel.rank, sent = 1, None
pickled = pickle.dumps(data, 5)
if what == "mpi4py bcast (self)":
    from mpi4py import MPI  # only here: MPI's start-up spins for a time that varies

    self_comm = MPI.COMM_SELF
steps = {{
    "patch send": lambda: p.parallel.broadcast(sent, root=0),
    "patch receive": lambda: p.parallel.broadcast(sent, root=0),
    "pickle.dumps": lambda: pickle.dumps(data, 5),
    "pickle.loads": lambda: pickle.loads(pickled),
    "mpi4py bcast (self)": lambda: self_comm.bcast(data, root=0),
}}
step = steps[what]
for _ in range(3):
    step()
# Collections still run, but no longer go over the objects of the start-up (NEURON's,
# numpy's, Patch's): a full one landing in one run and not the other would count.
gc.collect()
gc.freeze()
for _ in range(calls):
    step()
"""


def instructions(code: str, calls: int, what: str) -> int:
    """The instructions callgrind counts for a whole run of the child."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "callgrind.out")
        env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")
        env.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
        for key in list(env):  # not a rank of the world that may have started this
            if key.startswith(("PMI_", "PMIX_", "OMPI_", "MPI_LOCALRANKID", "HYDRA_")):
                del env[key]
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
            + ["-c", code, str(calls), what],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{what} failed under valgrind:\n{done.stderr[-2000:]}")
        with open(out) as file:
            for line in file:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    raise SystemExit("callgrind wrote no total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on PATH")
    print(f"patch from {os.path.dirname(patch.__file__)}; instructions per call")
    print(f"{'call':22}" + "".join(f"{kind:>12}" for kind in PAYLOADS))
    counts = {
        what: {
            kind: (
                instructions(CHILD.format(payload=payload), 2 * args.calls, what)
                - instructions(CHILD.format(payload=payload), args.calls, what)
            )
            // args.calls
            for kind, payload in PAYLOADS.items()
        }
        for what in CALLS
    }
    for what, row in counts.items():
        print(f"{what:22}" + "".join(f"{row[kind]:>12,}" for kind in PAYLOADS), flush=True)


if __name__ == "__main__":
    main()
