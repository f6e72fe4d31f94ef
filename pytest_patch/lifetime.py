"""A hypothesis state machine that fuzzes Patch's reference-lifetime promises G1 and G2.

It builds sections, synapses, clamps, NetStims, NetCons, recordings and played Vectors,
connects, moves and drops them in random order, and keeps a model of what its own
variables still hold. After every step it checks that everything reachable from a held
object is alive and works in NEURON (G1) and that, after ``gc.collect()``, nothing else
survives (G2).
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections import Counter
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from patch import NetCon, Section, Vector, is_point_process, live_objects, p

__all__ = ["ReferenceLifetimeMachine"]

_lengths = st.floats(1.0, 200.0, allow_nan=False)
_diams = st.floats(0.2, 5.0, allow_nan=False)
_positions = st.sampled_from((0.5, 1.0, 0.0, 0.25))
# A section's 0 end is its parent's node once it is connected, so what watches a voltage
# (NetCon sources, recordings) sits elsewhere.
_inner = st.sampled_from((0.5, 1.0, 0.25))
_weights = st.floats(0.0, 0.05)
# A NetStim may drive itself: a delay of 0 would make it fire forever at one instant.
_delays = st.floats(0.1, 5.0)
#: Length of the short run after every step that checks that recordings fill.
RUN_MS = 0.25
# What a clamp's amp is set to before that run: a clamp that still plays overwrites it.
_UNPLAYED = 12345.0


class _Node:
    """What the model knows of one tracked object."""

    __slots__ = ("label", "ref", "kind", "neuron_name", "edges", "facts")

    def __init__(self, label: str, obj: Any, kind: str, neuron_name: str | None) -> None:
        self.label = label
        self.ref = weakref.ref(obj)
        self.kind = kind
        self.neuron_name = neuron_name
        #: Labels of the nodes this object keeps alive.
        self.edges: set[str] = set()
        #: What the object must look like in NEURON (its section, source, target, ...).
        self.facts: dict[str, str] = {}


class ReferenceLifetimeMachine(RuleBasedStateMachine):
    """Random build / connect / record / drop sequences, with G1 and G2 checked after each step.

    Bundles hold *labels* (``"s0"``, ``"syn1"``); the objects themselves are held by the
    machine until a ``drop_*`` rule lets go of them. The model is a graph of tracked
    objects: ``holding any one object keeps alive everything connected to it``. After
    every step the machine checks:

    - G1: every object reachable from a held one is alive and works: sections are in
      ``p.allsec()`` with their modelled parent, point processes sit on their section,
      NetCons are valid with their source and target, and recordings fill on a short run.
    - G2: after ``gc.collect()``, no other tracked object survives, and
      ``patch.live_objects()`` lists exactly the reachable sections, point processes and
      NetCons (beyond what existed when the machine started).

    A failure message ends with the Patch calls of the (shrunk) failing run.

    Run it in a test module with ``TestLifetime = ReferenceLifetimeMachine.TestCase``.
    A model repository subclasses it to add its own cell types: a rule builds the cell
    and tells the model what depends on what with :meth:`track` (and :meth:`link` /
    :meth:`unlink` for connections made later); :meth:`label_of` finds the label of a
    tracked object, to hand a cell's parts to the built-in rules through their bundles::

        class CellLifetime(ReferenceLifetimeMachine):
            cells = Bundle("cells")

            @rule(target=cells)
            def new_ball_and_stick(self):
                cell = BallAndStick()  # a Python object holding its Patch objects
                soma = self.track(cell.soma, "soma")
                dend = self.track(cell.dend, "dend", linked=[soma], facts={"parent": soma})
                syn = self.track(cell.syn, "syn", linked=[dend], facts={"section": dend})
                # The cell holds its parts one way; nothing in Patch holds the cell.
                return self.track(cell, "cell", holds=[soma, dend, syn], hold=True,
                                  call="{} = BallAndStick()")

            @rule(target=ReferenceLifetimeMachine.synapses, cell=cells)
            def synapse_of(self, cell):
                syn = self.obj(cell).syn
                label = self.label_of(syn)
                self.hold(label, syn)
                self.log(f"{label} = {cell}.syn")
                return label

            @rule(cell=consumes(cells))
            def drop_cell(self, cell):
                self.drop(cell)

        TestCellLifetime = CellLifetime.TestCase

    Patch objects that a rule creates without tracking them make the G2 check fail, and
    the message names them, so a missed dependency cannot go unnoticed.
    """

    sections = Bundle("sections")
    synapses = Bundle("synapses")
    clamps = Bundle("clamps")
    stimuli = Bundle("stimuli")
    netcons = Bundle("netcons")
    vectors = Bundle("vectors")
    refs = Bundle("refs")

    def __init__(self) -> None:
        super().__init__()
        # Older objects cannot become part of the model: keep them out of every collection,
        # so the gc.collect() after each step only looks at what this run made.
        gc.freeze()
        self._baseline = _names(live_objects())
        self._nodes: dict[str, _Node] = {}
        self._held: dict[str, Any] = {}
        self._holds: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._script: list[str] = ["import gc", "from patch import p"]
        self._failed = False
        #: Vector (or clamp) label -> the clamp whose amp it plays, and the last value.
        self._players: dict[str, tuple[str, float]] = {}

    # -- the model: public hooks for subclasses --------------------------------------------
    def track(
        self,
        obj: Any,
        prefix: str,
        *,
        linked: Iterable[str] = (),
        holds: Iterable[str] = (),
        hold: bool = False,
        call: str | None = None,
        facts: dict[str, str] | None = None,
    ) -> str:
        """Add ``obj`` to the model and return its label (``prefix`` plus a number).

        - ``linked``: labels of objects that ``obj`` and each of them keep alive both ways
          (what Patch promises for its own dependencies).
        - ``holds``: labels that ``obj`` keeps alive one way (a user cell holding sections).
        - ``hold``: the machine holds ``obj`` until :meth:`drop` (return the label from a
          rule with a bundle ``target`` to let later rules use it).
        - ``call``: the Python line that made ``obj``, for the failure script; every
          ``{}`` in it is replaced by the label.
        - ``facts``: labels that :meth:`check_working` checks ``obj`` against:
          ``section`` (where a point process sits), ``parent`` (a section's parent),
          ``source`` and ``target`` (of a NetCon).
        """
        label = f"{prefix}{self._counts[prefix]}"
        self._counts[prefix] += 1
        node = _Node(label, obj, _kind(obj), _neuron_name(obj))
        self._nodes[label] = node
        node.facts.update(facts or {})
        for other in linked:
            self.link(label, other)
        for other in holds:
            node.edges.add(other)
        if hold:
            self.hold(label, obj)
        if call is not None:
            self.log(call.replace("{}", label))
        return label

    def link(self, a: str, b: str) -> None:
        """Model that ``a`` and ``b`` keep each other alive."""
        self._nodes[a].edges.add(b)
        self._nodes[b].edges.add(a)

    def unlink(self, a: str, b: str) -> None:
        """Model that ``a`` and ``b`` no longer depend on each other."""
        self._nodes[a].edges.discard(b)
        self._nodes[b].edges.discard(a)

    def hold(self, label: str, obj: Any) -> None:
        """The machine holds ``obj`` (once more)."""
        self._held[label] = obj
        self._holds[label] += 1

    def drop(self, label: str) -> None:
        """Let go of one hold of ``label``; the object is released when none is left."""
        self._holds[label] -= 1
        if self._holds[label] <= 0:
            del self._holds[label]
            del self._held[label]
            self.log(f"del {label}")

    def label_of(self, obj: Any) -> str | None:
        """The label of a tracked object, or None."""
        for node in self._nodes.values():
            if node.ref() is obj:
                return node.label
        return None

    def obj(self, label: str) -> Any:
        """The object behind ``label`` (it must be alive)."""
        found = self._nodes[label].ref()
        assert found is not None, f"{label} was freed while the model says it is reachable"
        return found

    def log(self, line: str) -> None:
        """Add a line to the script printed when a check fails."""
        self._script.append(line)

    def reachable(self) -> set[str]:
        """Labels reachable from what the machine holds (the model's prediction)."""
        seen: set[str] = set()
        todo = list(self._held)
        while todo:
            label = todo.pop()
            if label not in seen:
                seen.add(label)
                todo.extend(self._nodes[label].edges - seen)
        return seen

    def check_working(self, label: str, obj: Any) -> None:
        """Check that the reachable object ``obj`` works (raise AssertionError if not).

        Override it to check your own kinds of objects too, and call ``super()``.
        """
        node = self._nodes[label]
        facts = node.facts
        if node.kind == "section":
            assert any(sec is obj for sec in p.allsec()), f"{node.label} is not in p.allsec()"
            parent = facts.get("parent")
            if parent is not None:
                seg = obj.parentseg()
                assert seg is not None and seg.sec is self.obj(parent), (
                    f"{node.label} should be connected to {parent}, but its parent is {seg}"
                )
        elif node.kind == "point_process" and facts.get("section") is not None:
            assert obj.has_loc(), f"{node.label} lost its location"
            assert obj.get_segment().sec is self.obj(facts["section"]), (
                f"{node.label} should sit on {facts['section']}, "
                f"but sits on {obj.get_segment().sec}"
            )
        elif node.kind == "netcon":
            assert obj.valid(), f"{node.label} is not valid (no source or no target)"
            assert obj.syn() is self.obj(facts["target"]), f"{node.label} lost its target"
            source = self.obj(facts["source"])
            if isinstance(source, Section):
                assert obj.preseg().sec is source, f"{node.label} lost its source section"
            else:
                assert obj.pre() is source, f"{node.label} lost its source"

    # -- rules: building -------------------------------------------------------------------
    @rule(target=sections, length=_lengths, diam=_diams, nseg=st.sampled_from((1, 3)))
    def new_section(self, length: float, diam: float, nseg: int) -> str:
        label = f"s{self._counts['s']}"
        section = p.Section(name=label)
        section.L, section.diam, section.nseg = length, diam, nseg
        return self.track(
            section,
            "s",
            hold=True,
            call=(
                f"{{}} = p.Section(name={label!r}); "
                f"{{}}.L, {{}}.diam, {{}}.nseg = {length!r}, {diam!r}, {nseg}"
            ),
        )

    @rule(child=sections, parent=sections, x=_positions)
    def connect(self, child: str, parent: str, x: float) -> None:
        loop = child == parent or child in self._ancestors(parent)
        self.log(f"{child}.connect({parent}, {x!r})")
        try:
            self.obj(child).connect(self.obj(parent), x)
        except ValueError:
            assert loop, f"{child}.connect({parent}) refused although it makes no loop"
            self.log("# ValueError: loop refused, as expected")
            return
        assert not loop, f"{child}.connect({parent}) made a loop without raising ValueError"
        node = self._nodes[child]
        old = node.facts.get("parent")
        if old is not None:
            self.unlink(child, old)
        node.facts["parent"] = parent
        self.link(child, parent)

    @rule(section=sections)
    def disconnect(self, section: str) -> None:
        node = self._nodes[section]
        self.log(f"{section}.disconnect()")
        self.obj(section).disconnect()
        old = node.facts.pop("parent", None)
        if old is not None:
            self.unlink(section, old)

    @rule(
        target=synapses, section=sections, kind=st.sampled_from(("ExpSyn", "Exp2Syn")), x=_positions
    )
    def synapse(self, section: str, kind: str, x: float) -> str:
        syn = self.obj(section).synapse(getattr(p, kind), x)
        label = self.track(
            syn,
            "syn",
            linked=[section],
            hold=True,
            call=f"{{}} = {section}.synapse(p.{kind}, {x!r})",
        )
        self._nodes[label].facts["section"] = section
        return label

    @rule(
        target=clamps,
        section=sections,
        x=_positions,
        amp=st.floats(-0.5, 0.5) | st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=4),
    )
    def iclamp(self, section: str, x: float, amp: float | list[float]) -> str:
        clamp = self.obj(section).iclamp(x, amp=amp, delay=0.0)
        label = self.track(
            clamp,
            "clamp",
            linked=[section],
            hold=True,
            facts={"section": section},
            call=f"{{}} = {section}.iclamp({x!r}, amp={amp!r}, delay=0.0)",
        )
        if isinstance(amp, list):
            # The clamp holds the Vectors that play amp; the run below checks they still do.
            self._players[label] = (label, amp[-1])
        return label

    @rule(target=vectors, clamp=clamps, amp=st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=4))
    def play(self, clamp: str, amp: list[float]) -> str:
        values, times = p.Vector(amp), p.Vector(len(amp))
        times.indgen(0.0, p.dt)
        values.play(self.obj(clamp)._ref_amp, times, False)
        # A pointer does not say whose it is: the Vector keeps its times, not the clamp.
        label = self.track(
            values,
            "v",
            hold=True,
            call=(
                f"{{}} = p.Vector({amp!r}); "
                f"{{}}.play({clamp}._ref_amp, p.Vector({len(amp)}).indgen(0, p.dt), False)"
            ),
        )
        self._players[label] = (clamp, amp[-1])
        return label

    # One rule per bundle: a rule drawing from ``a | b`` wastes the example when one is empty.
    @rule(point=synapses, section=sections, x=_positions)
    def move_synapse(self, point: str, section: str, x: float) -> None:
        self._move(point, section, x)

    @rule(point=clamps, section=sections, x=_positions)
    def move_clamp(self, point: str, section: str, x: float) -> None:
        self._move(point, section, x)

    def _move(self, point: str, section: str, x: float) -> None:
        self.log(f"{point}.loc({section}({x!r}))")
        self.obj(point).loc(self.obj(section)(x))
        node = self._nodes[point]
        self.unlink(point, node.facts["section"])
        node.facts["section"] = section
        self.link(point, section)

    # NEURON aborts the process when a NetStim with number=0 receives an event.
    @rule(target=stimuli, number=st.integers(1, 3), start=st.floats(0.0, 0.2))
    def netstim(self, number: int, start: float) -> str:
        stim = p.NetStim(number=number, start=start, interval=0.1, noise=0)
        return self.track(
            stim,
            "stim",
            hold=True,
            call=f"{{}} = p.NetStim(number={number}, start={start!r}, interval=0.1, noise=0)",
        )

    @rule(
        target=netcons, source=sections, synapse=synapses, x=_inner, weight=_weights, delay=_delays
    )
    def connect_points(
        self, source: str, synapse: str, x: float, weight: float, delay: float
    ) -> str:
        netcon = self.obj(source).connect_points(self.obj(synapse), x, weight=weight, delay=delay)
        return self._track_netcon(
            netcon,
            source,
            synapse,
            f"{{}} = {source}.connect_points({synapse}, {x!r}, weight={weight!r}, delay={delay!r})",
        )

    @rule(target=netcons, source=stimuli, target_=synapses, weight=_weights, delay=_delays)
    def netcon_stim_to_synapse(self, source: str, target_: str, weight: float, delay: float) -> str:
        return self._netcon(source, target_, weight, delay)

    @rule(target=netcons, source=stimuli, target_=stimuli, weight=_weights, delay=_delays)
    def netcon_stim_to_stim(self, source: str, target_: str, weight: float, delay: float) -> str:
        return self._netcon(source, target_, weight, delay)

    @rule(target=netcons, source=sections, target_=stimuli, weight=_weights, delay=_delays)
    def netcon_section_to_stim(self, source: str, target_: str, weight: float, delay: float) -> str:
        return self._netcon(source, target_, weight, delay)

    def _netcon(self, source: str, target: str, weight: float, delay: float) -> str:
        netcon = p.NetCon(self.obj(source), self.obj(target), weight=weight, delay=delay)
        return self._track_netcon(
            netcon,
            source,
            target,
            f"{{}} = p.NetCon({source}, {target}, weight={weight!r}, delay={delay!r})",
        )

    def _track_netcon(self, netcon: NetCon, source: str, target: str, call: str) -> str:
        label = self.track(netcon, "nc", linked=[source, target], hold=True, call=call)
        self._nodes[label].facts.update(source=source, target=target)
        return label

    @rule(target=vectors, section=sections, x=_inner)
    def record(self, section: str, x: float) -> str:
        vector = self.obj(section).record(x)
        label = self.label_of(vector)
        if label is not None:
            self.log(f"{label} = {section}.record({x!r})  # the same Vector again")
            self.hold(label, vector)
            return label
        return self.track(
            vector,
            "v",
            linked=[section],
            hold=True,
            facts={"section": section},
            call=f"{{}} = {section}.record({x!r})",
        )

    @rule(target=vectors, section=sections, x=_inner)
    def record_vector(self, section: str, x: float) -> str:
        vector = p.Vector()
        vector.record(self.obj(section)(x))
        label = self.track(
            vector,
            "v",
            linked=[section],
            hold=True,
            call=f"{{}} = p.Vector(); {{}}.record({section}({x!r}))",
        )
        self._nodes[label].facts["section"] = section
        return label

    @rule(target=refs, section=sections)
    def section_ref(self, section: str) -> str:
        ref = p.SectionRef(self.obj(section))
        label = self.track(
            ref, "ref", linked=[section], hold=True, call=f"{{}} = p.SectionRef({section})"
        )
        self._nodes[label].facts["section"] = section
        return label

    # -- rules: letting go -------------------------------------------------------------------
    @rule(section=consumes(sections))
    def drop_section(self, section: str) -> None:
        self.drop(section)

    @rule(point=consumes(synapses))
    def drop_synapse(self, point: str) -> None:
        self.drop(point)

    @rule(point=consumes(clamps))
    def drop_clamp(self, point: str) -> None:
        self.drop(point)

    @rule(stim=consumes(stimuli))
    def drop_netstim(self, stim: str) -> None:
        self.drop(stim)

    @rule(netcon=consumes(netcons))
    def drop_netcon(self, netcon: str) -> None:
        self.drop(netcon)

    @rule(vector=consumes(vectors))
    def drop_vector(self, vector: str) -> None:
        self.drop(vector)

    @rule(ref=consumes(refs))
    def drop_section_ref(self, ref: str) -> None:
        self.drop(ref)

    # -- checks ----------------------------------------------------------------------------
    @invariant()
    def reachable_objects_work(self) -> None:
        """G1: everything reachable from a held object is alive and works."""
        gc.collect()  # dropped objects in reference cycles would still act until collected
        reachable = self.reachable()
        for label in sorted(reachable):
            node = self._nodes[label]
            obj = node.ref()
            self._expect(
                obj is not None, f"G1: {label} was freed although it is reachable from held objects"
            )
            try:
                self.check_working(label, obj)
            except AssertionError as error:
                self._expect(False, f"G1: {error}")
        recording = [
            (label, self.obj(label))
            for label in reachable
            if self._nodes[label].kind == "vector" and "section" in self._nodes[label].facts
        ]
        players = Counter(
            clamp
            for label, (clamp, _) in self._players.items()
            if label in reachable and clamp in reachable
        )
        playing = [
            (clamp, self.obj(clamp), last)
            for label, (clamp, last) in self._players.items()
            if label in reachable and players[clamp] == 1
        ]
        if recording or playing:
            for _, clamp, _ in playing:
                clamp.amp = _UNPLAYED
            p.run(RUN_MS)
            steps = int(round(RUN_MS / p.dt)) + 1
            for label, vector in recording:
                self._expect(
                    int(vector.size()) == steps,
                    f"G1: {label} recorded {int(vector.size())} points in a {RUN_MS} ms run, "
                    f"expected {steps}",
                )
            for label, clamp, last in playing:
                self._expect(
                    clamp.amp == last,
                    f"G1: {label}'s amplitudes are no longer played "
                    f"(amp={clamp.amp!r} after a run)",
                )
        del recording, playing

    @invariant()
    def unreachable_objects_are_freed(self) -> None:
        """G2: after gc.collect() nothing the machine cannot reach survives."""
        gc.collect()
        reachable = self.reachable()
        survivors = sorted(
            label
            for label, node in self._nodes.items()
            if label not in reachable and node.ref() is not None
        )
        self._expect(
            not survivors, f"G2: {survivors} survived gc.collect() but nothing held reaches them"
        )
        self._check_live(reachable)

    def teardown(self) -> None:
        """Drop everything, collect, and check that NEURON is back to where it started."""
        try:
            self._held.clear()
            self._holds.clear()
            self.log("# drop everything")
            gc.collect()
            if self._failed or sys.exc_info()[0] is not None:
                return  # a step failed already: report that, not its leftovers
            survivors = sorted(
                label for label, node in self._nodes.items() if node.ref() is not None
            )
            self._expect(
                not survivors, f"G2: {survivors} survived dropping everything and gc.collect()"
            )
            self._check_live(set())
        finally:
            gc.unfreeze()

    # -- helpers -----------------------------------------------------------------------------
    def _ancestors(self, label: str) -> list[str]:
        found = []
        parent = self._nodes[label].facts.get("parent")
        while parent is not None:
            found.append(parent)
            parent = self._nodes[parent].facts.get("parent")
        return found

    def _check_live(self, reachable: set[str]) -> None:
        expected = self._baseline + Counter(
            name for label in reachable if (name := self._nodes[label].neuron_name) is not None
        )
        actual = _names(live_objects())
        extra = sorted((actual - expected).elements())
        missing = sorted((expected - actual).elements())
        self._expect(
            not extra,
            f"G2: patch.live_objects() lists {extra}, which nothing held reaches "
            "(or which a rule made without track())",
        )
        self._expect(not missing, f"G1: {missing} are reachable but not in patch.live_objects()")

    def _expect(self, condition: bool, message: str) -> None:
        if not condition:
            self._failed = True
            script = "\n".join(f"    {line}" for line in self._script)
            raise AssertionError(f"{message}\nPatch calls of this run:\n{script}\n    gc.collect()")


def _names(live: dict[str, list[str]]) -> Counter[str]:
    return Counter(name for names in live.values() for name in names)


def _kind(obj: Any) -> str:
    if isinstance(obj, Section):
        return "section"
    if isinstance(obj, NetCon):
        return "netcon"
    if isinstance(obj, Vector):
        return "vector"
    if is_point_process(obj):
        return "point_process"
    return type(obj).__name__


def _neuron_name(obj: Any) -> str | None:
    """The name ``patch.live_objects()`` lists ``obj`` under, if it lists it."""
    if isinstance(obj, Section):
        return obj.name()
    if isinstance(obj, NetCon) or is_point_process(obj):
        return obj.hname()
    return None
