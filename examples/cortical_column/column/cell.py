"""A reduced layer 5 pyramidal cell: 52 sections, four mechanisms of its own.

Morphology (lengths and diameters in um):

- soma, a 20 x 20 cylinder;
- an axon initial segment (AIS) dense in Na+ channels, where spikes start, and a short
  unmyelinated axon beyond it;
- four basal trees, each branching twice (4 + 8 + 16 sections);
- an apical trunk of five sections with two oblique branches on each, ending in a tuft
  that branches twice (2 + 4 sections).

Channels: ``nat`` (transient Na+), ``kdr`` (delayed-rectifier K+) everywhere but at lower
density in dendrites; ``hcn`` (Ih) rising with distance along the apical dendrite;
``pas`` for the leak. Synapses are ``AmpaSyn`` point processes made on demand.
"""

from __future__ import annotations

from typing import Any

from patch import p

#: Passive properties shared by every section.
CM, RA, G_LEAK, E_LEAK = 1.0, 150.0, 4e-5, -75.0
#: Channel densities (S/cm2). The AIS has ~4x the somatic Na+ density, so spikes start there.
SOMA_NA, AIS_NA, AXON_NA, DEND_NA = 0.12, 0.5, 0.12, 0.006
SOMA_K, AIS_K, AXON_K, DEND_K = 0.036, 0.1, 0.036, 0.003
#: Ih density at the soma, and its increase per um of distance along the apical dendrite.
SOMA_H, APICAL_H_PER_UM = 1e-4, 1e-6
E_NA, E_K = 50.0, -90.0
#: Where the soma settles with no input (mV); start runs here (``p.v_init = V_REST``) so
#: that a stimulus finds the cell at rest after a short settling time.
V_REST = -69.0


class PyramidalCell:
    """One pyramidal cell. Holding the object keeps all its sections and synapses alive.

    ``gid`` only names the sections (``cell3.apic[2]``); the network assigns the gid to a
    rank. ``synapse(section, x)`` places an ``AmpaSyn`` and keeps it with the cell.
    """

    def __init__(self, gid: int = 0, *, ih_scale: float = 1.0) -> None:
        self.gid = gid
        self.ih_scale = ih_scale
        self.sections: list[Any] = []
        self.basal: list[Any] = []
        self.apical: list[Any] = []
        self.synapses: list[Any] = []
        self._build_morphology()
        self._insert_channels()

    # -- morphology -----------------------------------------------------------------------
    def _section(
        self, name: str, length: float, diam: float, nseg: int = 1, parent: Any = None
    ) -> Any:
        section = p.Section(name=f"cell{self.gid}.{name}")
        section.L, section.diam, section.nseg = length, diam, nseg
        if parent is not None:
            section.connect(parent)
        self.sections.append(section)
        return section

    def _build_morphology(self) -> None:
        self.soma = self._section("soma", 20, 20)
        # The AIS leaves from the soma's 0 end, the dendrites from its 1 end.
        self.ais = self._section("ais", 30, 1.5)
        self.ais.connect(self.soma(0))
        self.axon = self._section("axon", 200, 1.0, nseg=3, parent=self.ais)
        for tree in range(4):
            primary = self._section(f"dend[{tree}]", 30, 2.0, parent=self.soma)
            self.basal.append(primary)
            for branch in range(2):
                daughter = self._section(f"dend[{tree}][{branch}]", 60, 1.2, parent=primary)
                self.basal.append(daughter)
                for twig in range(2):
                    tip = self._section(
                        f"dend[{tree}][{branch}][{twig}]", 100, 0.7, parent=daughter
                    )
                    self.basal.append(tip)
        parent = self.soma
        self.trunk = []
        for i in range(5):
            # A tapering trunk; each section gets its own Ih density (by distance).
            trunk = self._section(f"apic[{i}]", 120, 4.0 - 0.5 * i, parent=parent)
            self.trunk.append(trunk)
            self.apical.append(trunk)
            for side in range(2):
                self.apical.append(
                    self._section(f"apic[{i}].oblique[{side}]", 90, 0.9, parent=trunk)
                )
            parent = trunk
        for i in range(2):
            tuft = self._section(f"tuft[{i}]", 150, 1.5, parent=parent)
            self.apical.append(tuft)
            for j in range(2):
                self.apical.append(self._section(f"tuft[{i}][{j}]", 150, 0.8, parent=tuft))

    # -- biophysics -----------------------------------------------------------------------
    def _insert_channels(self) -> None:
        densities = {
            self.soma: (SOMA_NA, SOMA_K),
            self.ais: (AIS_NA, AIS_K),
            self.axon: (AXON_NA, AXON_K),
        }
        for section in self.sections:
            section.cm, section.Ra = CM, RA
            for mechanism in ("pas", "nat", "kdr", "hcn"):
                section.insert(mechanism)
            section.ena, section.ek = E_NA, E_K
            gna, gk = densities.get(section, (DEND_NA, DEND_K))
            for segment in section:
                segment.g_pas, segment.e_pas = G_LEAK, E_LEAK
                segment.gbar_nat, segment.gbar_kdr = gna, gk
                segment.gbar_hcn = self.ih_scale * SOMA_H
        for section in self.apical:
            for segment in section:
                distance = p.distance(self.soma(0.5), segment)
                segment.gbar_hcn = self.ih_scale * (SOMA_H + APICAL_H_PER_UM * distance)

    # -- inputs -----------------------------------------------------------------------------
    def synapse(self, section: Any, x: float = 0.5, *, tau1: float = 0.3, tau2: float = 3.0) -> Any:
        """An ``AmpaSyn`` at ``section(x)``, kept by the cell."""
        synapse = p.AmpaSyn(section(x))
        synapse.tau1, synapse.tau2 = tau1, tau2
        self.synapses.append(synapse)
        return synapse

    def __repr__(self) -> str:
        return f"<PyramidalCell gid={self.gid}: {len(self.sections)} sections>"
