"""Bad input gets a clear PatchError (or fitting builtin), never a crash, hang or no-op.

Cases that crash or hang raw NEURON run in a child process, so that a regression shows
up as a failed test rather than a dead test session.
"""

import pytest
from neuron import h

import patch
from patch import p
from patch.exceptions import (
    ArgumentError,
    DeletedSectionError,
    HocError,
    NotConnectableError,
    NotRecordableError,
    PatchError,
    SectionAccessError,
    SegmentPositionError,
    SimulatorError,
    UnknownAttributeError,
)


def test_error_hierarchy():
    for error in (
        SectionAccessError,
        DeletedSectionError,
        NotRecordableError,
        NotConnectableError,
        SegmentPositionError,
        HocError,
        SimulatorError,
    ):
        assert issubclass(error, PatchError)
    assert issubclass(NotRecordableError, TypeError)
    assert issubclass(SegmentPositionError, ValueError)
    assert issubclass(DeletedSectionError, ReferenceError)


def test_cas_with_empty_stack(run_isolated):
    out = run_isolated("""
        try:
            p.cas()
        except SectionAccessError as e:
            print("raised:", e)
    """)
    assert "raised: No section is on the section stack" in out


@pytest.mark.parametrize("target", [1.5, "s.v(0.5)", None, "vector", "synapse"])
def test_recording_something_that_is_not_a_pointer(target):
    s = p.Section()
    things = {"vector": p.Vector(), "synapse": p.ExpSyn(s)}
    with pytest.raises(NotRecordableError, match="Section, a Segment or a pointer"):
        p.Vector().record(things.get(target, target))


@pytest.mark.parametrize("target", ["section", "segment", "vector", "iclamp", "text"])
def test_netcon_to_something_that_is_not_a_target(target):
    s = p.Section()
    things = {"section": s, "segment": s(0.5), "vector": p.Vector(), "text": "syn"}
    if target == "iclamp":
        things["iclamp"] = p.IClamp(s)
    with pytest.raises(NotConnectableError, match="target"):
        p.NetCon(p.NetStim(), things[target])


def test_netcon_to_a_target_without_net_receive_does_not_crash_later(run_isolated):
    """Raw NEURON raises, then segfaults when the IClamp is freed or at exit."""
    out = run_isolated("""
        s = p.Section()
        clamp = p.IClamp(s)
        try:
            p.NetCon(p.NetStim(), clamp)
        except NotConnectableError:
            print("refused")
        del clamp, s
        gc.collect()
        print("alive")
    """)
    assert out.split() == ["refused", "alive"]


@pytest.mark.parametrize("source", ["vector", "text", "number"])
def test_netcon_from_something_that_is_not_a_source(source):
    things = {"vector": p.Vector(), "text": "soma", "number": 3.0}
    with pytest.raises(NotConnectableError, match="source"):
        p.NetCon(things[source], p.ExpSyn(p.Section()))


@pytest.mark.parametrize("x", [1.5, -0.1, float("nan")])
def test_point_process_outside_the_section(x):
    s = p.Section()
    with pytest.raises(SegmentPositionError):
        p.ExpSyn(x, sec=s)
    with pytest.raises((SegmentPositionError, ValueError)):
        p.ExpSyn(s(x))


def test_point_process_on_none_does_not_segfault(run_isolated):
    """``h.IClamp(None)`` and ``h.ExpSyn(None)`` segfault raw NEURON."""
    out = run_isolated("""
        s = p.Section()
        for name in ("IClamp", "ExpSyn"):
            for call in (lambda: getattr(p, name)(None), lambda: getattr(p, name)(None, sec=s)):
                try:
                    call()
                except TypeError as e:
                    print("refused", name)
    """)
    assert out.split() == ["refused", "IClamp"] * 2 + ["refused", "ExpSyn"] * 2


@pytest.mark.parametrize("where", ["text", "vector"])
def test_point_process_on_wrong_type(where):
    with pytest.raises(TypeError, match="Section or a Segment"):
        p.ExpSyn({"text": "soma", "vector": p.Vector()}[where])


def test_deleted_section():
    s = p.Section()
    seg = s(0.5)
    h.delete_section(sec=s)
    with pytest.raises(DeletedSectionError):
        p.ExpSyn(s)
    with pytest.raises(DeletedSectionError):
        p.ExpSyn(seg)
    with pytest.raises(DeletedSectionError):
        p.Vector().record(s)
    with pytest.raises(DeletedSectionError):
        p.NetCon(s, p.ExpSyn(p.Section()))
    with pytest.raises(DeletedSectionError):
        p.Section().connect(s)
    with pytest.raises(ReferenceError):  # NEURON itself guards the section's own methods
        s.push()
    with pytest.raises(DeletedSectionError):
        p.SectionRef(s)
    assert repr(s) == "<Section (deleted)>"


def test_deleting_a_section_with_a_netcon_target_is_refused(run_isolated):
    """Raw NEURON segfaults in the next finitialize."""
    out = run_isolated("""
        s = p.Section()
        syn = p.ExpSyn(s)
        nc = p.NetCon(p.NetStim(), syn)
        try:
            p.delete_section(sec=s)
        except SimulatorError as e:
            print("refused:", "NetCons still deliver" in str(e))
        p.finitialize(-65)
        lone = p.Section()
        p.ExpSyn(lone)
        p.delete_section(sec=lone)
        p.finitialize(-65)
        print("alive", [sec.name() for sec in p.allsec()] == [s.name()])
    """)
    assert out.split() == ["refused:", "True", "alive", "True"]


def test_freeing_a_running_network_then_continuing_is_refused(run_isolated):
    """Raw NEURON segfaults delivering queued events to the freed NetCon."""
    out = run_isolated("""
        def network():
            s = p.Section()
            s.insert("hh")
            stim = p.NetStim()
            stim.number, stim.start, stim.interval = 10, 0.1, 0.3
            return p.NetCon(stim, p.ExpSyn(s), delay=2, weight=0.01)

        nc = network()
        p.run(0.5)
        del nc
        gc.collect()
        for step in (lambda: p.continuerun(5), p.fadvance):
            try:
                step()
            except SimulatorError as e:
                print("refused", "p.finitialize()" in str(e))
        p.finitialize(-65)
        p.continuerun(5)
        print("alive", round(p.t, 6))
    """)
    assert out.split() == ["refused", "True", "refused", "True", "alive", "5.0"]


@pytest.mark.parametrize("dt", [0, -1, float("nan"), "0.1"])
def test_bad_time_step_is_refused_before_it_hangs(dt):
    old = h.dt
    with pytest.raises((ValueError, TypeError)):
        p.dt = dt
    assert h.dt == old


def test_bad_time_step_set_on_raw_h_is_caught_by_run(run_isolated):
    out = run_isolated("""
        from neuron import h
        p.Section()
        h.load_file("stdrun.hoc")
        h.dt = 0
        for call in (lambda: p.run(5), lambda: p.continuerun(5), p.fadvance):
            try:
                call()
            except ValueError as e:
                print("refused", "positive" in str(e))
    """)
    assert out.split() == ["refused", "True"] * 3


@pytest.mark.parametrize("duration", [float("nan"), -5, "10"])
def test_bad_durations(duration):
    with pytest.raises(ValueError):
        p.run(duration)


def test_finitialize_bad_voltage():
    with pytest.raises(TypeError, match="initial voltage"):
        p.finitialize("a")


def test_hoc_errors_and_silent_failures():
    with pytest.raises(HocError):
        p("this is not hoc")
    with pytest.raises(HocError):
        p.load_file("definitely_missing.hoc")
    with pytest.raises(FileNotFoundError, match="nrnivmodl"):
        p.nrn_load_dll("definitely_missing.so")


def test_wrong_argument_types():
    with pytest.raises(TypeError):
        p.Section().connect("soma")
    with pytest.raises(TypeError):
        p.SectionRef(p.Vector())
    with pytest.raises(AttributeError, match="no attribute 'taux'"):
        p.ExpSyn(p.Section(), taux=3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        p.NetCon(None, p.ExpSyn(p.Section()), wieght=1)
    with pytest.raises(ValueError, match="delay"):
        p.NetCon(None, p.ExpSyn(p.Section()), delay=-1)
    with pytest.raises(ValueError, match="weights"):
        p.NetCon(None, p.ExpSyn(p.Section()), weight=[1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        p.Section().iclamp(amp=[])
    with pytest.raises(ValueError, match="voltages"):
        p.Section().vclamp(voltage=[1, 2], duration=[1])


def test_topology_mistakes():
    a = p.Section(name="a")
    b = p.Section(name="b")
    with pytest.raises(ValueError, match="itself"):
        a.connect(a)
    b.connect(a)
    with pytest.raises(ValueError, match="loop"):
        a.connect(b)
    with pytest.raises(SegmentPositionError):
        p.Section().connect(a, 2.0)


def test_pop_of_a_section_that_was_not_pushed():
    """NEURON's pop_section() on an empty stack silently does nothing."""
    s = p.Section()
    with pytest.raises(SectionAccessError, match="push"):
        s.pop()
    s.push()
    s.pop()
    with pytest.raises(SectionAccessError):
        s.pop()


def test_netstim_without_spikes_turned_on_by_an_event_is_refused(run_isolated):
    """Raw NEURON aborts the process ("net_send td-t = ...") when the event arrives."""
    out = run_isolated("""
        source = p.NetStim()
        source.number, source.start = 2, 1
        target = p.NetStim()
        target.number = 0
        nc = p.NetCon(source, target, weight=1)
        try:
            p.run(10)
        except SimulatorError as e:
            print("refused", "number >= 1" in str(e))
        nc.weight[0] = -1  # turning a NetStim off is fine
        p.run(10)
        target.number = 3
        nc.weight[0] = 1
        p.run(10)
        print("alive")
    """)
    assert out.split() == ["refused", "True", "alive"]


# -- every documented error, and what raises it ----------------------------------------------
CAUSES = {
    "SimulatorError": lambda: p.delete_section(sec=_targeted_section()),
    "HocError": lambda: p("this is not hoc"),
    "SectionAccessError": lambda: p.Section().pop(),
    "DeletedSectionError": lambda: p.Vector().record(_deleted()),
    "NotRecordableError": lambda: p.Vector().record("soma"),
    "NotConnectableError": lambda: p.NetCon(None, p.IClamp(p.Section())),
    "SegmentPositionError": lambda: p.Section().record(1.5),
    "ArgumentError": lambda: p.IClamp(None),
    "ArgumentValueError": lambda: p.Section().iclamp(amp=[]),
    "SimulationTimeError": lambda: setattr(p, "dt", 0),
    "TopologyError": lambda: _loop(),
    "UnknownMechanismError": lambda: p.Section().insert("nosuchmech"),
    "UnknownAttributeError": lambda: p.ExpSyn(p.Section(), tua=2),
    "ParallelConnectError": lambda: p.ParallelCon(1, 2),
    "BroadcastError": lambda: p.parallel.broadcast(lambda: None),
    "NotAPointProcessError": lambda: p.Section().synapse(lambda segment: segment),
}
# Raised where a world, a compiler or a crash is needed: tested in their own modules.
ELSEWHERE = {
    "PatchError": "the root",
    "PatchWarning": "the root of the warnings",
    "ReloadWarning": "test_run_system",
    "ParallelError": "the root of the parallel errors",
    "MPIConfigurationError": "test_mpi_world",
    "CollectiveError": "test_parallel_con (2 ranks)",
    "MechanismError": "test_mechanisms",
    "ModCompileError": "test_mechanisms",
    "NoDisplayError": "test_display (a NEURON started without a display)",
}


def _targeted_section():
    s = p.Section()
    syn = s.synapse(p.ExpSyn)
    _targeted_section.keep = (syn, p.NetCon(None, syn))
    return s


def _deleted():
    s = p.Section()
    p.delete_section(sec=s)
    return s


def _loop():
    a, b = p.Section(), p.Section()
    b.connect(a)
    a.connect(b)


def test_every_error_class_is_raised_by_a_documented_cause():
    assert set(CAUSES) | set(ELSEWHERE) == set(patch.exceptions.__all__)


@pytest.mark.parametrize("name", sorted(CAUSES))
def test_each_error_is_a_patch_error_and_its_builtin(name):
    error_class = getattr(patch.exceptions, name)
    with pytest.raises(error_class) as raised:
        CAUSES[name]()
    assert isinstance(raised.value, PatchError)
    builtins = {TypeError, ValueError, RuntimeError, ReferenceError, AttributeError}
    assert builtins & set(type(raised.value).__mro__), type(raised.value).__mro__
    assert len(str(raised.value)) > 30  # says what was wrong and what to do
    _targeted_section.keep = None


def test_a_misspelled_point_process_variable_is_refused_not_kept_in_python():
    """NEURON's subclasses would keep it as a Python attribute; the clamp would not change."""
    clamp = p.IClamp(p.Section())
    with pytest.raises(UnknownAttributeError, match=r"'duration'.*\['amp', 'delay', 'dur', 'i'\]"):
        clamp.duration = 10
    assert clamp.dur == 0 and "duration" not in vars(clamp)
    clamp.dur = 10
    assert clamp.dur == 10


def test_a_point_process_variable_set_to_a_string_is_a_clear_type_error():
    """NEURON's subclass path answered this with a SystemError about a slot wrapper."""
    synapse = p.ExpSyn(p.Section())
    with pytest.raises(ArgumentError, match=r"ExpSyn\.tau = 'x'.*number") as raised:
        synapse.tau = "x"
    assert isinstance(raised.value, TypeError)
    assert synapse.tau == 0.1  # unchanged
    stimulus = p.NetStim()
    with pytest.raises(ArgumentError, match=r"NetStim\.start = None"):
        stimulus.start = None
    netcon = p.NetCon(stimulus, synapse)
    with pytest.raises(ArgumentError, match=r"NetCon\.delay = 'x'"):
        netcon.delay = "x"
    synapse.tau, stimulus.start, netcon.delay = 2, 3, 4
    assert (synapse.tau, stimulus.start, netcon.delay) == (2, 3, 4)


def test_setting_a_hoc_global_to_a_string_is_a_type_error():
    with pytest.raises(TypeError):
        p.celsius = "warm"
    p.celsius = 6.3
    assert p.celsius == 6.3
