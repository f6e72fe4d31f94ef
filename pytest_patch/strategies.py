"""Hypothesis strategies that draw NEURON models as readable descriptions and build them with Patch.

Every strategy that makes NEURON objects first draws a small frozen *description*
(``SectionSpec``, ``MorphologySpec``, ``NetworkSpec``) and then builds it with
``patch.p``. Hypothesis shrinks the description, so a failing example shrinks to a
small model and prints as the description that builds it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as npst

from patch import NetCon, ParallelContext, Section, p, point_processes as neuron_point_processes

from ._validate import is_finite_number, is_integer
from .lifetime import ReferenceLifetimeMachine

__all__ = [
    "SectionSpec",
    "MorphologySpec",
    "Morphology",
    "SynapseSpec",
    "StimulusSpec",
    "ConnectionSpec",
    "NetworkSpec",
    "Network",
    "ReferenceLifetimeMachine",
    "BUILTIN_POINT_PROCESSES",
    "NEURON_POINT_PROCESSES",
    "section_specs",
    "sections",
    "morphology_specs",
    "morphologies",
    "point_processes",
    "network_specs",
    "networks",
    "picklable",
]

#: Every point process and artificial cell that NEURON itself ships.
NEURON_POINT_PROCESSES = frozenset(
    {
        "IClamp",
        "AlphaSynapse",
        "ExpSyn",
        "Exp2Syn",
        "SEClamp",
        "VClamp",
        "OClamp",
        "APCount",
        "NetStim",
        "IntFire1",
        "IntFire2",
        "IntFire4",
        "PointProcessMark",
        "PatternStim",
    }
)
#: The built-in synapses and clamps that :func:`point_processes` draws from by default.
BUILTIN_POINT_PROCESSES = ("ExpSyn", "Exp2Syn", "AlphaSynapse", "IClamp", "SEClamp", "VClamp")


# -- argument validation ------------------------------------------------------------------
def _check_number(name: str, value: Any, *, positive: bool = False, minimum: float = 0.0) -> float:
    if not is_finite_number(value):
        raise InvalidArgument(
            f"{name}={value!r} must be a finite number, not {type(value).__name__}."
        )
    if positive and value <= 0 or value < minimum:
        bound = "> 0" if positive else f">= {minimum}"
        raise InvalidArgument(f"{name}={value!r} must be {bound}.")
    return float(value)


def _check_int(name: str, value: Any, *, minimum: int = 0) -> int:
    if not is_integer(value):
        raise InvalidArgument(f"{name}={value!r} must be an int, not {type(value).__name__}.")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be >= {minimum}.")
    return int(value)


def _check_order(low_name: str, low: float, high_name: str, high: float) -> None:
    if low > high:
        raise InvalidArgument(f"{low_name}={low!r} must not be greater than {high_name}={high!r}.")


def _check_bool_or_none(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be True, False or None (draw either).")


# -- sections -------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SectionSpec:
    """One unbranched cable: length and diameter in µm, ``nseg``, optional 3D points.

    With ``points`` (``(x, y, z, diam)`` tuples) NEURON takes ``L`` and ``diam`` from them.
    """

    L: float
    diam: float
    nseg: int = 1
    points: tuple[tuple[float, float, float, float], ...] = ()
    name: str = "section"

    def __repr__(self) -> str:
        points = f", points={self.points!r}" if self.points else ""
        return (
            f"SectionSpec(L={self.L!r}, diam={self.diam!r}, nseg={self.nseg}{points}, "
            f"name={self.name!r})"
        )

    def build(self) -> Section:
        """Make this section with ``p.Section``."""
        section = p.Section(name=self.name)
        section.nseg = self.nseg
        if self.points:
            for x, y, z, diam in self.points:
                section.pt3dadd(x, y, z, diam)
        else:
            section.L = self.L
            section.diam = self.diam
        return section


def _odd_nseg(max_nseg: int) -> st.SearchStrategy[int]:
    return st.integers(0, (max_nseg - 1) // 2).map(lambda k: 2 * k + 1)


def _path(
    length: float, diam: float, count: int, direction: tuple[float, float, float]
) -> tuple[tuple[float, float, float, float], ...]:
    norm = math.sqrt(sum(c * c for c in direction))
    unit = tuple(c / norm for c in direction)
    step = length / (count - 1)
    return tuple(
        (
            round(unit[0] * step * i, 6),
            round(unit[1] * step * i, 6),
            round(unit[2] * step * i, 6),
            diam,
        )
        for i in range(count)
    )


_directions = st.tuples(*[st.integers(-3, 3)] * 3).filter(any).map(lambda v: tuple(map(float, v)))
_point_counts = st.integers(2, 4)
_attachments = st.sampled_from((1.0, 0.0, 0.5))


class _SectionDrawer:
    """Draws section descriptions from strategies made once, not in every draw.

    A strategy made inside a draw is made, looked up in hypothesis' cache and validated
    again for every example: that was most of the cost of drawing a network. The drawers
    are kept per arguments (``lru_cache``), so the public strategies keep their plain
    arguments and their repr.
    """

    def __init__(
        self, min_length: float, max_length: float, min_diam: float, max_diam: float, max_nseg: int
    ) -> None:
        self._length = st.floats(min_length, max_length, allow_nan=False, allow_infinity=False)
        self._diam = st.floats(min_diam, max_diam, allow_nan=False, allow_infinity=False)
        self._nseg = _odd_nseg(max_nseg)

    def __call__(self, draw: Any, points: bool | None, name: str) -> SectionSpec:
        length = draw(self._length)
        diam = draw(self._diam)
        nseg = draw(self._nseg)
        with_points = draw(st.booleans()) if points is None else points
        path: tuple[tuple[float, float, float, float], ...] = ()
        if with_points:
            path = _path(length, diam, draw(_point_counts), draw(_directions))
        return SectionSpec(L=length, diam=diam, nseg=nseg, points=path, name=name)


_section_drawer = lru_cache(maxsize=256)(_SectionDrawer)


@st.composite
def _section_spec(
    draw: Any,
    min_length: float,
    max_length: float,
    min_diam: float,
    max_diam: float,
    max_nseg: int,
    points: bool | None,
    name: str,
) -> SectionSpec:
    drawer = _section_drawer(min_length, max_length, min_diam, max_diam, max_nseg)
    return drawer(draw, points, name)


def section_specs(
    *,
    min_length: float = 1.0,
    max_length: float = 1000.0,
    min_diam: float = 0.1,
    max_diam: float = 10.0,
    max_nseg: int = 9,
    points: bool | None = False,
    name: str = "section",
) -> st.SearchStrategy[SectionSpec]:
    """Descriptions of sections (see :func:`sections`, which builds them)."""
    min_length = _check_number("min_length", min_length, positive=True)
    max_length = _check_number("max_length", max_length, positive=True)
    _check_order("min_length", min_length, "max_length", max_length)
    min_diam = _check_number("min_diam", min_diam, positive=True)
    max_diam = _check_number("max_diam", max_diam, positive=True)
    _check_order("min_diam", min_diam, "max_diam", max_diam)
    max_nseg = _check_int("max_nseg", max_nseg, minimum=1)
    _check_bool_or_none("points", points)
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"name={name!r} must be a non-empty str.")
    return _section_spec(min_length, max_length, min_diam, max_diam, max_nseg, points, name)


def sections(
    *,
    min_length: float = 1.0,
    max_length: float = 1000.0,
    min_diam: float = 0.1,
    max_diam: float = 10.0,
    max_nseg: int = 9,
    points: bool | None = False,
    name: str = "section",
) -> st.SearchStrategy[Section]:
    """Patch sections of random length, diameter and (odd) ``nseg``.

    - ``min_length``, ``max_length``: range of ``L`` in µm (both > 0).
    - ``min_diam``, ``max_diam``: range of ``diam`` in µm (both > 0).
    - ``max_nseg``: the largest ``nseg`` drawn; only odd values are drawn.
    - ``points``: ``True`` gives each section 3D points along a straight path,
      ``None`` draws either, ``False`` none.
    - ``name``: the section name.

    .. code-block:: pycon

        >>> sections(max_length=50).example()
        <Section section>

    Examples shrink towards ``nseg=1``, no points, and short, round lengths and diameters.
    """
    return section_specs(
        min_length=min_length,
        max_length=max_length,
        min_diam=min_diam,
        max_diam=max_diam,
        max_nseg=max_nseg,
        points=points,
        name=name,
    ).map(SectionSpec.build)


# -- morphologies ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MorphologySpec:
    """A tree of sections: ``parents[i]`` is the index of section ``i``'s parent (or None).

    Section ``i`` attaches its 0 end to its parent at ``positions[i]``; section 0 is the
    root (``soma``), every other section's parent comes before it.
    """

    sections: tuple[SectionSpec, ...]
    parents: tuple[int | None, ...]
    positions: tuple[float, ...]

    def build(self) -> Morphology:
        """Make the sections with ``p.Section`` and connect them."""
        built = tuple(spec.build() for spec in self.sections)
        for child, (parent, x) in enumerate(zip(self.parents, self.positions, strict=False)):
            if parent is not None:
                built[child].connect(built[parent], x)
        return Morphology(self, built)


@dataclass(eq=False)
class Morphology:
    """Built sections of a :class:`MorphologySpec`; holding it holds the whole tree."""

    description: MorphologySpec
    sections: tuple[Section, ...]

    @property
    def root(self) -> Section:
        """The root section (the soma)."""
        return self.sections[0]

    def __repr__(self) -> str:
        return f"Morphology({self.description!r})"


class _MorphologyDrawer:
    """Draws tree descriptions from strategies made once (see :class:`_SectionDrawer`)."""

    def __init__(
        self,
        min_sections: int,
        max_sections: int,
        max_length: float,
        max_diam: float,
        max_nseg: int,
    ) -> None:
        self._count = st.integers(min_sections, max_sections)
        self._dendrite = (1.0, max_length, 0.2, max_diam, max_nseg)
        # Made when first needed: section i's parent (one of the i sections before it), and
        # section i's own strategy (each section is drawn as one example, which the
        # shrinker can work on as a whole).
        self._parents: dict[int, st.SearchStrategy[int]] = {}
        self._sections: dict[tuple[int, bool, str], st.SearchStrategy[SectionSpec]] = {}

    def _parent(self, i: int) -> st.SearchStrategy[int]:
        if i not in self._parents:
            self._parents[i] = st.integers(0, i - 1)
        return self._parents[i]

    def _section(self, i: int, points: bool, prefix: str) -> st.SearchStrategy[SectionSpec]:
        key = (i, points, prefix)
        if key not in self._sections:
            if i == 0:
                self._sections[key] = _section_spec(
                    5.0, 40.0, 5.0, 40.0, 1, points, f"{prefix}soma"
                )
            else:
                name = f"{prefix}dend[{i - 1}]"
                self._sections[key] = _section_spec(*self._dendrite, points, name)
        return self._sections[key]

    def __call__(self, draw: Any, points: bool | None, prefix: str) -> MorphologySpec:
        count = draw(self._count)
        with_points = draw(st.booleans()) if points is None else points
        specs = [draw(self._section(0, with_points, prefix))]
        parents: list[int | None] = [None]
        positions = [0.0]
        for i in range(1, count):
            parents.append(draw(self._parent(i)))
            positions.append(draw(_attachments))
            specs.append(draw(self._section(i, with_points, prefix)))
        return MorphologySpec(tuple(specs), tuple(parents), tuple(positions))


_morphology_drawer = lru_cache(maxsize=256)(_MorphologyDrawer)


@st.composite
def _morphology_spec(
    draw: Any,
    min_sections: int,
    max_sections: int,
    max_length: float,
    max_diam: float,
    max_nseg: int,
    points: bool | None,
    prefix: str,
) -> MorphologySpec:
    drawer = _morphology_drawer(min_sections, max_sections, max_length, max_diam, max_nseg)
    return drawer(draw, points, prefix)


def morphology_specs(
    *,
    min_sections: int = 1,
    max_sections: int = 8,
    max_length: float = 500.0,
    max_diam: float = 5.0,
    max_nseg: int = 9,
    points: bool | None = False,
    prefix: str = "",
) -> st.SearchStrategy[MorphologySpec]:
    """Descriptions of connected trees (see :func:`morphologies`, which builds them)."""
    min_sections = _check_int("min_sections", min_sections, minimum=1)
    max_sections = _check_int("max_sections", max_sections, minimum=1)
    _check_order("min_sections", min_sections, "max_sections", max_sections)
    max_length = _check_number("max_length", max_length, minimum=1.0)
    max_diam = _check_number("max_diam", max_diam, minimum=0.2)
    max_nseg = _check_int("max_nseg", max_nseg, minimum=1)
    _check_bool_or_none("points", points)
    if not isinstance(prefix, str):
        raise InvalidArgument(f"prefix={prefix!r} must be a str.")
    return _morphology_spec(
        min_sections, max_sections, max_length, max_diam, max_nseg, points, prefix
    )


def morphologies(
    *,
    min_sections: int = 1,
    max_sections: int = 8,
    max_length: float = 500.0,
    max_diam: float = 5.0,
    max_nseg: int = 9,
    points: bool | None = False,
    prefix: str = "",
) -> st.SearchStrategy[Morphology]:
    """Connected trees: a soma (5–40 µm) and dendrites, as a :class:`Morphology`.

    - ``min_sections``, ``max_sections``: how many sections, the soma included.
    - ``max_length``, ``max_diam``: upper bounds for dendrites (at least 1 µm, 0.2 µm).
    - ``max_nseg``: the largest (odd) ``nseg`` of a dendrite.
    - ``points``: 3D points on every section (``True``), none (``False``), or drawn (``None``).
    - ``prefix``: put before every section name (``soma``, ``dend[0]``, ...).

    .. code-block:: pycon

        >>> morphologies(max_sections=2).example()
        Morphology(MorphologySpec(sections=(SectionSpec(L=12.0, diam=7.5, ...), ...), ...))

    Examples shrink towards a lone soma, then to fewer dendrites attached to the soma's 1 end.
    """
    return morphology_specs(
        min_sections=min_sections,
        max_sections=max_sections,
        max_length=max_length,
        max_diam=max_diam,
        max_nseg=max_nseg,
        points=points,
        prefix=prefix,
    ).map(MorphologySpec.build)


# -- point processes ------------------------------------------------------------------------
def _known_point_processes() -> dict[str, bool]:
    """Name -> is artificial, for every point process NEURON knows right now."""
    return {name: kind.artificial for name, kind in neuron_point_processes().items()}


def _default_names() -> list[str]:
    known = _known_point_processes()
    loaded = sorted(
        n for n, artificial in known.items() if n not in NEURON_POINT_PROCESSES and not artificial
    )
    return list(BUILTIN_POINT_PROCESSES) + loaded


_positive = st.floats(0.1, 20.0, allow_nan=False)
_ATTRIBUTES: dict[str, dict[str, st.SearchStrategy[float]]] = {
    "ExpSyn": {"tau": _positive, "e": st.floats(-80.0, 0.0)},
    "Exp2Syn": {
        "tau1": st.floats(0.1, 1.0),
        "tau2": st.floats(1.0, 20.0),
        "e": st.floats(-80.0, 0.0),
    },
    "AlphaSynapse": {"onset": st.floats(0.0, 10.0), "tau": _positive, "gmax": st.floats(0.0, 0.1)},
    "IClamp": {
        "delay": st.floats(0.0, 10.0),
        "dur": st.floats(0.0, 100.0),
        "amp": st.floats(-1.0, 1.0),
    },
    "SEClamp": {"dur1": st.floats(0.0, 100.0), "amp1": st.floats(-90.0, 30.0)},
}


@st.composite
def _point_process(draw: Any, on: st.SearchStrategy[Any], names: Sequence[str] | None) -> Any:
    known = _known_point_processes()
    choices = list(names) if names is not None else _default_names()
    unknown = [name for name in choices if name not in known]
    if unknown:
        raise InvalidArgument(
            f"names={list(choices)!r}: {unknown} are not point processes NEURON knows; "
            "load the mechanisms (nrn_load_dll / nrn_mod_dirs) first."
        )
    name = draw(st.sampled_from(choices))
    attributes = {key: draw(value) for key, value in _ATTRIBUTES.get(name, {}).items()}
    factory = getattr(p, name)
    if known[name]:
        return factory(**attributes)
    section = draw(on)
    x = draw(st.sampled_from((0.5, 0.0, 1.0)) | st.floats(0.0, 1.0))
    return factory(section(x), **attributes)


def point_processes(
    on: Section | st.SearchStrategy[Section] | None = None,
    *,
    names: Sequence[str] | None = None,
) -> st.SearchStrategy[Any]:
    """Point processes placed on a section, with drawn parameters.

    - ``on``: a Section, or a strategy of sections (default :func:`sections`).
    - ``names``: point process names to draw from. By default the built-in synapses and
      clamps (:data:`BUILTIN_POINT_PROCESSES`) plus every non-artificial point process of
      the mechanisms loaded when the example is drawn (found with ``MechanismType(1)``).
      Artificial cells in ``names`` (``NetStim``) are made without a section.

    .. code-block:: pycon

        >>> point_processes(names=["ExpSyn"]).example()
        <ExpSyn ExpSyn[0]>

    Examples shrink towards the first name, placed at 0.5, with the smallest parameters.
    """
    if on is None:
        on = sections()
    elif isinstance(on, Section):
        on = st.just(on)
    elif not isinstance(on, st.SearchStrategy):
        raise InvalidArgument(f"on={on!r} must be a Section or a strategy of sections.")
    if names is not None:
        if isinstance(names, str) or not all(isinstance(name, str) for name in names):
            raise InvalidArgument(
                f"names={names!r} must be a sequence of point process names (str)."
            )
        if not names:
            raise InvalidArgument("names=[] is empty: give at least one point process name.")
        names = tuple(names)
    return _point_process(on, names)


# -- networks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SynapseSpec:
    """A ``kind`` synapse (``ExpSyn``/``Exp2Syn``) on ``cell``'s section ``section`` at ``x``."""

    cell: int
    section: int
    x: float
    kind: str = "ExpSyn"
    tau: float = 2.0


@dataclass(frozen=True)
class StimulusSpec:
    """A NetStim firing ``number`` spikes every ``interval`` ms from ``start`` into a synapse."""

    synapse: int
    start: float
    interval: float
    number: int
    weight: float
    delay: float


@dataclass(frozen=True)
class ConnectionSpec:
    """A NetCon from ``source`` cell's soma to a synapse."""

    source: int
    synapse: int
    weight: float
    delay: float
    threshold: float = -20.0


@dataclass(frozen=True)
class NetworkSpec:
    """Cells (``hh`` everywhere), synapses on them, NetStims and cell-to-synapse NetCons."""

    cells: tuple[MorphologySpec, ...]
    synapses: tuple[SynapseSpec, ...]
    stimuli: tuple[StimulusSpec, ...]
    connections: tuple[ConnectionSpec, ...]

    def rank_of(self, cell: int, size: int) -> int:
        """The rank that builds ``cell`` when the network is split over ``size`` ranks."""
        return cell % size

    def build(self, parallel: bool = False) -> Network:
        """Build the network; ``parallel`` splits cells round-robin over ranks (gid = cell index).

        A parallel network connects cells with ``p.ParallelCon`` and first clears the
        gids of ``p.parallel``. Call it on every rank with the same description.
        """
        size = p.parallel.size if parallel else 1
        rank = p.parallel.rank if parallel else 0
        if parallel:
            p.parallel.gid_clear()
        network = Network(self, parallel=parallel)
        for index, spec in enumerate(self.cells):
            if self.rank_of(index, size) == rank:
                cell = spec.build()
                for section in cell.sections:
                    section.insert("hh")
                network.cells[index] = cell
                if parallel:
                    network.netcons.append(p.ParallelCon(cell.root, index, threshold=-20.0))
        for index, syn in enumerate(self.synapses):
            owner = network.cells.get(syn.cell)
            if owner is not None:
                section = owner.sections[syn.section]
                if syn.kind == "Exp2Syn":
                    network.synapses[index] = p.Exp2Syn(
                        section(syn.x), tau1=min(0.5, syn.tau), tau2=syn.tau
                    )
                else:
                    network.synapses[index] = p.ExpSyn(section(syn.x), tau=syn.tau)
        for stim in self.stimuli:
            target = network.synapses.get(stim.synapse)
            if target is not None:
                netstim = p.NetStim(
                    start=stim.start, interval=stim.interval, number=stim.number, noise=0
                )
                network.stimuli.append(netstim)
                network.netcons.append(
                    p.NetCon(netstim, target, weight=stim.weight, delay=stim.delay)
                )
        for con in self.connections:
            target = network.synapses.get(con.synapse)
            if target is None:
                continue
            if parallel:
                netcon = p.ParallelCon(con.source, target, weight=con.weight, delay=con.delay)
            else:
                source = network.cells[con.source].root
                netcon = p.NetCon(
                    source, target, weight=con.weight, delay=con.delay, threshold=con.threshold
                )
            network.netcons.append(netcon)
        return network


@dataclass(eq=False)
class Network:
    """The part of a :class:`NetworkSpec` built on this rank (all of it when serial)."""

    description: NetworkSpec
    parallel: bool = False
    #: Cell index -> Morphology, for the cells that live on this rank.
    cells: dict[int, Morphology] = field(default_factory=dict)
    #: Synapse index -> synapse, for the synapses on this rank's cells.
    synapses: dict[int, Any] = field(default_factory=dict)
    stimuli: list[Any] = field(default_factory=list)
    netcons: list[NetCon] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Network({self.description!r}, parallel={self.parallel})"


class _NetworkDrawer:
    """Draws network descriptions from strategies made once (see :class:`_SectionDrawer`).

    The strategies that depend on what was drawn before (a cell's number of sections, the
    number of synapses) are made when a value is first seen and kept for the next draws.
    """

    def __init__(
        self,
        min_cells: int,
        max_cells: int,
        max_sections: int,
        max_synapses: int,
        max_stimuli: int,
        max_connections: int,
    ) -> None:
        # Lists shrink by dropping elements, so a failing network loses whole cells first.
        self._cells = st.lists(
            morphology_specs(max_sections=max_sections, max_length=200.0, max_nseg=3),
            min_size=min_cells,
            max_size=max_cells,
        )
        self._max_synapses = max_synapses
        self._max_stimuli = max_stimuli
        self._max_connections = max_connections
        self._synapses: dict[tuple[int, int], st.SearchStrategy[list[SynapseSpec]]] = {}
        self._inputs: dict[tuple[int, int], Any] = {}

    def _synapse_specs(self, cell: int, sections: int) -> st.SearchStrategy[list[SynapseSpec]]:
        key = (cell, sections)
        if key not in self._synapses:
            self._synapses[key] = st.lists(
                st.builds(
                    SynapseSpec,
                    cell=st.just(cell),
                    section=st.integers(0, sections - 1),
                    x=st.sampled_from((0.5, 0.0, 1.0)),
                    kind=st.sampled_from(("ExpSyn", "Exp2Syn")),
                    tau=st.floats(1.0, 10.0),
                ),
                min_size=1,
                max_size=self._max_synapses,
            )
        return self._synapses[key]

    def _input_specs(self, cells: int, synapses: int) -> Any:
        """The stimuli's and the connections' strategies, for this many cells and synapses."""
        key = (cells, synapses)
        if key not in self._inputs:
            targets = st.integers(0, synapses - 1)
            delays = st.floats(1.0, 5.0)
            stimuli = st.lists(
                st.builds(
                    StimulusSpec,
                    synapse=targets,
                    start=st.floats(0.0, 10.0),
                    interval=st.floats(2.0, 20.0),
                    number=st.integers(1, 5),
                    weight=st.floats(0.0, 0.1),
                    delay=delays,
                ),
                max_size=self._max_stimuli,
            )
            connections = st.lists(
                st.builds(
                    ConnectionSpec,
                    source=st.integers(0, cells - 1),
                    synapse=targets,
                    weight=st.floats(0.0, 0.1),
                    delay=delays,
                ),
                max_size=self._max_connections,
            )
            self._inputs[key] = (stimuli, connections)
        return self._inputs[key]

    def __call__(self, draw: Any) -> NetworkSpec:
        drawn = draw(self._cells)
        cells = tuple(_prefixed(cell, f"cell{i}.") for i, cell in enumerate(drawn))
        synapses: list[SynapseSpec] = []
        for cell_index, cell in enumerate(cells):
            # Every cell gets at least one synapse, so stimuli and connections have targets.
            synapses += draw(self._synapse_specs(cell_index, len(cell.sections)))
        stimuli, connections = self._input_specs(len(cells), len(synapses))
        return NetworkSpec(cells, tuple(synapses), tuple(draw(stimuli)), tuple(draw(connections)))


_network_drawer = lru_cache(maxsize=256)(_NetworkDrawer)


@st.composite
def _network_spec(
    draw: Any,
    min_cells: int,
    max_cells: int,
    max_sections: int,
    max_synapses: int,
    max_stimuli: int,
    max_connections: int,
) -> NetworkSpec:
    drawer = _network_drawer(
        min_cells, max_cells, max_sections, max_synapses, max_stimuli, max_connections
    )
    return drawer(draw)


def _prefixed(spec: MorphologySpec, prefix: str) -> MorphologySpec:
    named = tuple(replace(section, name=prefix + section.name) for section in spec.sections)
    return replace(spec, sections=named)


def network_specs(
    *,
    min_cells: int = 1,
    max_cells: int = 4,
    max_sections: int = 3,
    max_synapses: int = 2,
    max_stimuli: int = 3,
    max_connections: int = 6,
) -> st.SearchStrategy[NetworkSpec]:
    """Descriptions of networks (see :func:`networks`, which builds them)."""
    min_cells = _check_int("min_cells", min_cells, minimum=1)
    max_cells = _check_int("max_cells", max_cells, minimum=1)
    _check_order("min_cells", min_cells, "max_cells", max_cells)
    max_sections = _check_int("max_sections", max_sections, minimum=1)
    max_synapses = _check_int("max_synapses", max_synapses, minimum=1)
    max_stimuli = _check_int("max_stimuli", max_stimuli)
    max_connections = _check_int("max_connections", max_connections)
    return _network_spec(
        min_cells, max_cells, max_sections, max_synapses, max_stimuli, max_connections
    )


def networks(
    *,
    min_cells: int = 1,
    max_cells: int = 4,
    max_sections: int = 3,
    max_synapses: int = 2,
    max_stimuli: int = 3,
    max_connections: int = 6,
    parallel: bool = False,
) -> st.SearchStrategy[Network]:
    """Networks of ``hh`` cells with synapses, NetStims and NetCons (weights, delays).

    - ``min_cells``, ``max_cells``: how many cells; ``max_sections``: sections per cell.
    - ``max_synapses``: synapses per cell (at least one each).
    - ``max_stimuli``: NetStims, each driving one synapse through a NetCon.
    - ``max_connections``: soma-to-synapse NetCons (delays of 1–5 ms).
    - ``parallel``: split the cells over the ranks of ``p.parallel`` (cell ``i`` on rank
      ``i % size``, gid ``i``) and connect them with ``p.ParallelCon``. Under ``mpiexec``
      every rank must draw the same example (``derandomize=True``); each builds its part.

    .. code-block:: pycon

        >>> networks(max_cells=1, max_stimuli=1, max_connections=0).example()
        Network(NetworkSpec(cells=(MorphologySpec(...),), synapses=(...), ...), parallel=False)

    Examples shrink towards one single-section cell with one synapse and no stimuli or
    connections, then towards the earliest, weakest, shortest-delay events.
    """
    if not isinstance(parallel, bool):
        raise InvalidArgument(f"parallel={parallel!r} must be True or False.")
    return network_specs(
        min_cells=min_cells,
        max_cells=max_cells,
        max_sections=max_sections,
        max_synapses=max_synapses,
        max_stimuli=max_stimuli,
        max_connections=max_connections,
    ).map(lambda spec: spec.build(parallel=parallel))


# -- picklable payloads ---------------------------------------------------------------------
_DTYPES = ("float64", "float32", "int64", "int32", "uint8", "bool", "complex128")


@st.composite
def _array(draw: Any, max_array_bytes: int) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    # Arrays bigger than this travel out of band in p.parallel.broadcast.
    out_of_band = ParallelContext.OUT_OF_BAND_BYTES
    if max_array_bytes > out_of_band and draw(st.booleans()):
        # Big arrays: mostly one fill value, so drawing stays cheap.
        count = draw(
            st.integers(out_of_band // dtype.itemsize + 1, max_array_bytes // dtype.itemsize)
        )
        shape: Any = (count // 8, 8) if draw(st.booleans()) and count >= 16 else count
        elements = npst.from_dtype(dtype, allow_nan=False, allow_infinity=False)
        return draw(npst.arrays(dtype, shape, elements=elements, fill=elements))
    shape = draw(npst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return draw(npst.arrays(dtype, shape, elements=npst.from_dtype(dtype, allow_nan=False)))


def picklable(
    *,
    max_leaves: int = 10,
    max_array_bytes: int = 200_000,
    allow_arrays: bool = True,
) -> st.SearchStrategy[Any]:
    """Nested payloads to broadcast: dicts, lists, tuples of numbers, strings and arrays.

    - ``max_leaves``: at most this many leaves in one payload.
    - ``max_array_bytes``: the size of the biggest numpy array drawn. Arrays are small
      (up to 4 per side) or, when this allows, bigger than 64 KiB, the size from which
      ``p.parallel.broadcast`` sends them out of band.
    - ``allow_arrays``: include numpy arrays (``float64``, ``float32``, ``int64``,
      ``int32``, ``uint8``, ``bool``, ``complex128``; 0 to 3 dimensions, empty ones too).

    Leaves are ``None``, bools, ints of any size, finite floats, str and bytes. No NaN is
    drawn, so a payload equals its round trip.

    .. code-block:: pycon

        >>> picklable().example()
        {'': (array([1, 0], dtype=uint8), -3), 'a': [None, 2.5]}

    Examples shrink towards ``None``, then smaller containers, then small arrays of zeros.
    """
    max_leaves = _check_int("max_leaves", max_leaves, minimum=1)
    max_array_bytes = _check_int("max_array_bytes", max_array_bytes, minimum=0)
    if not isinstance(allow_arrays, bool):
        raise InvalidArgument(f"allow_arrays={allow_arrays!r} must be True or False.")
    leaves: st.SearchStrategy[Any] = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=2**64, max_value=2**200)
        | st.floats(allow_nan=False)
        | st.text(max_size=20)
        | st.binary(max_size=20)
    )
    if allow_arrays:
        leaves = leaves | _array(max_array_bytes)
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.tuples(children, children)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )
