"""Every line of the Candy Guide's "Sections & Segments" part, as written there."""

import numpy as np
import pytest
from neuron import h

import patch
from patch import p
from patch.exceptions import SectionAccessError


def test_section_means_segment_half_for_point_processes():
    s = p.Section()
    syn = p.ExpSyn(s)
    assert syn.get_segment().sec is s
    assert syn.get_segment().x == 0.5
    assert isinstance(syn, patch.PointProcess)


def test_every_builtin_point_process_defaults_to_segment_half():
    s = p.Section()
    s.nseg = 5
    for name in ("IClamp", "ExpSyn", "Exp2Syn", "AlphaSynapse", "SEClamp", "VClamp", "APCount"):
        pp = getattr(p, name)(s)
        assert pp.get_segment().sec is s, name
        assert pp.get_loc() == 0.5, name
        h.pop_section()  # get_loc() pushed the section


def test_segment_position_is_kept():
    s = p.Section()
    s.nseg = 11
    syn = p.ExpSyn(s(0.7))
    assert syn.get_loc() == pytest.approx(0.7, abs=0.05)
    h.pop_section()  # get_loc() pushed the section


def test_vector_record_section_means_ref_v_at_half():
    s = p.Section()
    s.insert("hh")
    v = p.Vector()
    v.record(s)
    v7 = p.Vector()
    v7.record(s(0.7))
    raw = h.Vector()
    raw.record(s(0.5)._ref_v)
    s.iclamp(amp=0.5, delay=1, duration=5)
    s.L = s.diam = 10
    p.finitialize(-65)
    p.continuerun(10)
    assert len(v) == len(raw) > 10
    assert list(v) == list(raw)
    assert max(v) > 0  # it fired, so this is the real membrane potential


def test_section_records_itself_at_several_points():
    s = p.Section()
    s.nseg = 3
    v = s.record()
    v7 = s.record(0.7)
    assert s.recordings[0.5] is v
    assert s.recordings[0.7] is v7
    assert s.record() is v
    assert s.record(0.7) is v7
    p.run(5)
    assert len(v) == len(v7) == len(p.time)


def test_time_vector_usable_after_run_even_when_first_touched_afterwards():
    s = p.Section()
    v = s.record()
    p.run(3)
    time = np.array(p.time)
    assert len(time) == len(v)
    assert time[0] == 0 and time[-1] == pytest.approx(3)


def test_synapse_and_connect_points():
    s = p.Section()
    target_syn = p.Section().synapse(p.ExpSyn)
    assert target_syn.hname().startswith("ExpSyn")
    nc = s.connect_points(target_syn)
    assert nc.syn() is target_syn
    assert nc.preseg().sec is s
    assert nc.preloc() == pytest.approx(0.5)
    h.pop_section()  # preloc() pushed the section


def test_synapse_attributes():
    syn = p.Section().synapse(p.Exp2Syn, tau1=0.5, tau2=3)
    assert (syn.tau1, syn.tau2) == (0.5, 3)


def test_iclamp_scalar():
    s = p.Section()
    clamp = s.iclamp(amp=10, delay=0, duration=100)
    assert (clamp.amp, clamp.delay, clamp.dur) == (10, 0, 100)
    assert clamp.get_segment().sec is s


def test_iclamp_plays_one_value_per_time_step_from_delay():
    amps = [float(i + 1) for i in range(40)]
    clamp = p.Section().iclamp(amp=amps, delay=1)
    current = p.Vector()
    current.record(clamp._ref_i)
    p.run(3)
    values = np.array(current)
    # The value at time t is the current injected during the step that ended at t.
    step = np.round((np.array(p.time) - 1) / p.dt).astype(int) - 1
    assert np.all(values[step < 0] == 0)
    assert np.all(values[step >= len(amps)] == 0)
    played = (step >= 0) & (step < len(amps))
    assert np.array_equal(values[played], np.array(amps)[step[played]])
    assert clamp.dur == pytest.approx(len(amps) * p.dt)


def test_push_pop_and_context_manager():
    s = p.Section(name="pushed")
    p.Section(name="other")
    with s.push():
        clamp = p.IClamp()
        assert p.cas() is s
    assert clamp.get_segment().sec is s
    assert clamp.get_loc() == 0.5
    h.pop_section()  # get_loc() pushed the section
    s.push()
    assert p.cas() is s
    s.pop()


def test_context_manager_pops_on_exception():
    s = p.Section(name="a")
    before = h.cas()
    with pytest.raises(KeyError):
        with s.push():
            raise KeyError
    assert h.cas() is before


def test_pop_a_section_that_is_not_on_top_is_an_error():
    a = p.Section(name="a")
    b = p.Section(name="b")
    with a.push():
        with pytest.raises(SectionAccessError):
            b.pop()
        assert p.cas() is a


def test_sectionref_arg_or_sec_kwarg():
    s = p.Section()
    c = p.Section()
    c.connect(s)
    for ref in (p.SectionRef(sec=c), p.SectionRef(c)):
        assert ref.sec is c
        assert ref.parent is s
    with pytest.raises(TypeError):
        p.SectionRef(c, sec=s)


def test_connected_sections_reference_each_other():
    parent = p.Section()
    child = p.Section()
    child.connect(parent)
    assert patch.references(child) >= {parent}
    assert patch.references(parent) >= {child}
    assert child.parentseg().sec is parent
