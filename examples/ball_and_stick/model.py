"""A ball-and-stick neuron driven by a current clamp: prints how often it fires.

    python model.py [amp_nA]

Run it under MPI too (``mpiexec -n 2 python model.py``): every rank builds its own
cell, and rank 0 prints the spike counts gathered from all ranks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from patch import p


@dataclass
class BallAndStick:
    """A Hodgkin-Huxley soma with a passive dendrite; holding ``soma`` keeps it all."""

    soma: Any
    dend: Any
    spikes: Any = None
    detector: Any = None

    @property
    def spike_times(self) -> list[float]:
        return list(self.spikes)


def build(amp: float = 0.15, delay: float = 5.0, duration: float = 40.0) -> BallAndStick:
    soma = p.Section(name="soma")
    soma.L = soma.diam = 12.6157
    soma.insert("hh")
    dend = p.Section(name="dend")
    dend.L, dend.diam, dend.nseg = 200, 1, 11
    dend.insert("pas")
    dend.g_pas, dend.e_pas = 0.0001, -65
    dend.connect(soma)
    soma.iclamp(amp=amp, delay=delay, duration=duration)
    spikes = p.Vector()
    detector = p.NetCon(soma, None, threshold=0)
    detector.record(spikes)
    soma.record()  # soma.recordings[0.5] holds the membrane potential
    return BallAndStick(soma, dend, spikes, detector)


def main() -> None:
    amp = float(sys.argv[1]) if len(sys.argv) > 1 else 0.15
    cell = build(amp=amp * (1 + 0.1 * p.parallel.rank))
    p.run(50)
    counts = p.parallel.allgather(len(cell.spike_times))
    if p.parallel.rank == 0:
        for rank, count in enumerate(counts):
            print(f"rank {rank}: the ball-and-stick cell fired {count} spikes in 50 ms")


if __name__ == "__main__":
    main()
