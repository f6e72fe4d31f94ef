"""A recurrent network of pyramidal cells spread over the MPI ranks.

Every cell has a gid; gid ``g`` lives on rank ``g % size`` (round robin), so the same
network is built on 1, 2 or more ranks and gives the same spikes. Each cell is driven by
its own NetStim onto a basal dendrite, and excites a few other cells on their apical
obliques through ``p.ParallelCon``, whichever rank those live on.
"""

from __future__ import annotations

from typing import Any

from patch import p

from .cell import PyramidalCell

#: Drive: each cell's NetStim fires ``DRIVE_NUMBER`` events about ``DRIVE_INTERVAL`` ms
#: apart (start and spacing offset per cell), strong enough that most fire the cell.
DRIVE_WEIGHT, DRIVE_INTERVAL, DRIVE_NUMBER = 0.02, 35.0, 4
#: Recurrent excitation: cell g excites the cells g + offset (mod n), weak alone but
#: enough to bring forward or add a spike when it coincides with the drive.
TARGET_OFFSETS = (1, 5, 11)
RECURRENT_WEIGHT, RECURRENT_DELAY = 0.004, 2.0
#: Spike threshold at the soma (mV).
THRESHOLD = -10.0


def rank_of(gid: int, size: int) -> int:
    """Round robin: the rank that owns ``gid`` in a world of ``size`` ranks."""
    return gid % size


class Column:
    """``n`` pyramidal cells with gids ``0..n-1``; this rank builds the ones it owns.

    ``cells`` maps this rank's gids to their cells. ``p.parallel.record_spikes()`` made
    before the run records every local gid; ``.gather()`` gives the whole raster.
    """

    def __init__(
        self,
        n: int = 20,
        *,
        drive_weight: float = DRIVE_WEIGHT,
        recurrent_weight: float = RECURRENT_WEIGHT,
    ) -> None:
        self.n = n
        pc = p.parallel
        self.cells: dict[int, PyramidalCell] = {}
        self.transmitters: list[Any] = []
        self.receivers: list[Any] = []
        self.stimuli: list[Any] = []
        self.drives: list[Any] = []
        for gid in range(n):
            if rank_of(gid, pc.size) == pc.rank:
                pc.set_gid2node(gid, pc.rank)
                self._build_cell(gid, drive_weight)
        for gid, cell in self.cells.items():
            for source in self.sources_of(gid):
                # The first oblique of trunk section source % 5: inputs spread along the trunk.
                synapse = cell.synapse(cell.apical[3 * (source % 5) + 1], 0.5)
                self.receivers.append(
                    p.ParallelCon(
                        source, synapse, weight=recurrent_weight, delay=self.delay(source, gid)
                    )
                )

    def _build_cell(self, gid: int, drive_weight: float) -> None:
        cell = PyramidalCell(gid)
        self.cells[gid] = cell
        self.transmitters.append(p.ParallelCon(cell.soma(0.5), gid, threshold=THRESHOLD))
        stim = p.NetStim()
        # Per-cell timing from the gid alone, so it does not depend on the rank count.
        stim.start = 5.0 + (7 * gid) % 23
        stim.interval = DRIVE_INTERVAL + 3 * (gid % 4)
        stim.number, stim.noise = DRIVE_NUMBER, 0
        # On one of the four primary basal dendrites (every 7th section starts a tree).
        synapse = cell.synapse(cell.basal[7 * (gid % 4)], 0.5)
        self.stimuli.append(stim)
        self.drives.append(p.NetCon(stim, synapse, weight=drive_weight, delay=1))

    def sources_of(self, gid: int) -> list[int]:
        """The gids that excite ``gid``."""
        return sorted((gid - offset) % self.n for offset in TARGET_OFFSETS)

    @staticmethod
    def delay(source: int, target: int) -> float:
        """Conduction delay (ms): 2 ms plus up to 1 ms, set by the pair."""
        return RECURRENT_DELAY + 0.25 * ((source + target) % 5)

    def __repr__(self) -> str:
        return f"<Column of {self.n} cells, {len(self.cells)} on rank {p.parallel.rank}>"
