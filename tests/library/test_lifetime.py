"""G1 (alive) and G2 (freed) fuzzed by ``ReferenceLifetimeMachine``, and the bugs it found."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import Bundle, consumes, rule, run_state_machine_as_test

import patch
from pytest_patch.strategies import ReferenceLifetimeMachine

TestReferenceLifetime = ReferenceLifetimeMachine.TestCase
TestReferenceLifetime.settings = settings(max_examples=3 * settings().max_examples)


# -- a model repository's own cell type -----------------------------------------------------------
class BallAndStick:
    """A user's cell: a plain Python object holding Patch objects."""

    def __init__(self) -> None:
        self.soma = patch.p.Section(name="soma")
        self.dend = patch.p.Section(name="dend")
        self.dend.connect(self.soma)
        self.syn = self.dend.synapse(patch.p.ExpSyn)


class CellLifetime(ReferenceLifetimeMachine):
    """The subclass shown in ``ReferenceLifetimeMachine``'s docstring."""

    cells = Bundle("cells")

    @rule(target=cells)
    def new_ball_and_stick(self) -> str:
        cell = BallAndStick()
        soma = self.track(cell.soma, "soma")
        dend = self.track(cell.dend, "dend", linked=[soma], facts={"parent": soma})
        syn = self.track(cell.syn, "syn", linked=[dend], facts={"section": dend})
        return self.track(
            cell, "cell", holds=[soma, dend, syn], hold=True, call="{} = BallAndStick()"
        )

    @rule(target=ReferenceLifetimeMachine.synapses, cell=cells)
    def synapse_of(self, cell: str) -> str:
        syn = self.obj(cell).syn
        label = self.label_of(syn)
        self.hold(label, syn)
        self.log(f"{label} = {cell}.syn")
        return label

    @rule(cell=consumes(cells))
    def drop_cell(self, cell: str) -> None:
        self.drop(cell)


TestCellLifetime = CellLifetime.TestCase
TestCellLifetime.settings = settings(max_examples=settings().max_examples)


# -- the machine finds broken promises ------------------------------------------------------------
_finding = settings(
    max_examples=200,
    database=None,
    deadline=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    stateful_step_count=20,
)


def _failure(machine: type) -> tuple[str, str]:
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=_finding)
    gc.collect()
    return str(caught.value), "\n".join(getattr(caught.value, "__notes__", []))


def test_a_dependency_patch_does_not_keep_fails_g1_with_the_shortest_script() -> None:
    class ClaimsTooMuch(ReferenceLifetimeMachine):
        """Claims that a section keeps an unrelated one alive."""

        @rule(target=ReferenceLifetimeMachine.sections)
        def pretend_linked(self) -> str:
            kept = self.track(
                patch.p.Section(name="kept"), "s", hold=True, call="{} = p.Section(name='kept')"
            )
            self.track(
                patch.p.Section(name="other"),
                "s",
                linked=[kept],
                call="{} = p.Section(name='other')",
            )
            return kept

    message, notes = _failure(ClaimsTooMuch)
    assert message.startswith("G1: s1 was freed although it is reachable from held objects")
    script = [
        line.strip() for line in message.split("Patch calls of this run:\n", 1)[1].splitlines()
    ]
    assert script == [
        "import gc",
        "from patch import p",
        "s0 = p.Section(name='kept')",
        "s1 = p.Section(name='other')",
        "gc.collect()",
    ]
    assert "sections_0 = state.pretend_linked()" in notes
    assert "state.new_section" not in notes


def test_an_untracked_object_fails_g2_naming_it() -> None:
    class Hoards(ReferenceLifetimeMachine):
        """Keeps a section alive behind the model's back."""

        hidden: list[Any] = []

        @rule()
        def hide_a_section(self) -> None:
            self.hidden.append(patch.p.Section(name="hidden"))

        def teardown(self) -> None:
            self.hidden.clear()
            super().teardown()

    message, notes = _failure(Hoards)
    assert message.startswith("G2: patch.live_objects() lists ['hidden']")
    assert "state.hide_a_section()" in notes


# -- regressions: lifetime bugs the machine found in patch -----------------------------------------
def _live_sections() -> list[str]:
    gc.collect()
    return sorted(patch.live_objects()["sections"])


def test_reconnecting_a_child_frees_its_old_parent(p: Any) -> None:
    old, new, child = p.Section(name="old"), p.Section(name="new"), p.Section(name="child")
    child.connect(old)
    child.connect(new)
    del old
    assert _live_sections() == ["child", "new"]
    assert child.parentseg().sec is new
    del new
    assert _live_sections() == ["child", "new"]


def test_disconnecting_a_child_frees_its_parent(p: Any) -> None:
    parent, child = p.Section(name="parent"), p.Section(name="child")
    child.connect(parent)
    child.disconnect()
    del parent
    assert _live_sections() == ["child"]
    assert child.parentseg() is None


@pytest.mark.parametrize("where", ["segment", "section", "sec="])
def test_moving_a_point_process_keeps_its_new_section(p: Any, where: str) -> None:
    old, new = p.Section(name="old"), p.Section(name="new")
    syn = p.ExpSyn(old)
    if where == "segment":
        syn.loc(new(0.5))
    elif where == "section":
        syn.loc(new)
    else:
        syn.loc(0.5, sec=new)
    del old, new
    assert _live_sections() == ["new"]
    assert syn.has_loc() and syn.get_segment().sec.name() == "new"
    assert syn.get_segment().x == 0.5


def test_moving_a_point_process_to_a_deleted_section_is_refused(p: Any) -> None:
    section, doomed = p.Section(name="kept"), p.Section(name="doomed")
    syn = p.ExpSyn(section)
    p.delete_section(sec=doomed)
    with pytest.raises(patch.exceptions.DeletedSectionError):
        syn.loc(doomed)
    assert syn.get_segment().sec is section


def test_a_playing_vector_keeps_its_time_vector(p: Any) -> None:
    section = p.Section(name="clamped")
    clamp = p.IClamp(section)
    values = p.Vector([0.1, 0.2, 0.3])
    values.play(clamp._ref_amp, p.Vector([0.0, 0.025, 0.05]), False)
    gc.collect()
    clamp.amp = 99.0
    p.run(0.25)
    assert clamp.amp == 0.3


def test_playing_into_a_section_plays_its_voltage_and_keeps_it(p: Any) -> None:
    values = p.Vector([-50.0, -40.0])
    values.play(p.Section(name="driven"), p.dt)
    assert _live_sections() == ["driven"]
    p.run(0.25)
    (section,) = [s for s in p.allsec() if s.name() == "driven"]
    assert section(0.5).v == pytest.approx(-40.0)
    del section, values
    assert _live_sections() == []
