"""``p.run()`` is NEURON's run system: a model's own init(), advance() and setdt() count."""

import gc
import warnings

import pytest
from neuron import h

from patch import p
from patch.exceptions import HocError, ReloadWarning

STDRUN = ("init", "advance", "run", "stdinit")


@pytest.fixture
def stdrun_procs():
    """Restore stdrun's procedures and the time step after a test changes them."""
    p.load_stdrun()
    saved = {name: getattr(h, name) for name in ("dt", "steps_per_ms", "tstop")}
    yield
    for name, value in saved.items():
        setattr(h, name, value)
    h("proc init() { finitialize(v_init) }")
    h("proc advance() { fadvance() }")
    h("proc stdinit() { cvode_simgraph() realtime = 0 setdt() init() initPlot() }")
    h("proc run() { running_ = 1 stdinit() continuerun(tstop) }")


def test_user_init_is_called_and_dt_follows_steps_per_ms(stdrun_procs, capfd):
    s = p.Section(name="s")
    h("proc init() { finitialize(v_init)  forall v = -20 }")
    p.dt, p.tstop = 0.1, 1
    p.run()
    # Raw NEURON: init() leaves v at -20 (no mechanism moves it) and setdt() changes dt.
    assert s(0.5).v == -20
    assert p.dt == 0.025
    assert "Changed dt" in capfd.readouterr().out


def test_run_with_a_duration_is_tstop_then_run(stdrun_procs):
    s = p.Section(name="s")
    s.insert("pas")
    h("proc init() { finitialize(v_init)  forall v = -20 }")
    p.run(2)
    assert p.tstop == 2 and p.t == pytest.approx(2)
    assert -70 < s(0.5).v < -20  # started at -20 and relaxed towards e_pas


def test_user_advance_runs_every_step(stdrun_procs):
    p.Section(name="s")
    h("steps = 0")
    h("proc advance() { fadvance()  steps += 1 }")
    p.steps_per_ms, p.dt = 10, 0.1
    p.run(5)
    assert h.steps == 50


def test_finitialize_handlers_and_same_as_raw_h(stdrun_procs):
    def build():
        s = h.Section(name="s")
        s.L = s.diam = 12.6
        s.insert("hh")
        clamp = h.IClamp(s(0.5))
        clamp.delay, clamp.dur = 1, 3
        calls = []

        def raise_amplitude():
            calls.append(h.t)
            clamp.amp = 1

        handler = h.FInitializeHandler(1, raise_amplitude)
        v = h.Vector().record(s(0.5)._ref_v)
        return s, clamp, handler, v, calls

    results = []
    for run in (h.run, p.run):
        model = build()
        h.tstop = 5
        run()
        results.append((list(model[3]), model[4]))
        del model
        gc.collect()
    (raw, raw_calls), (patched, patched_calls) = results
    assert raw_calls == patched_calls == [0.0]
    assert raw == patched and max(raw) > 0


def test_stdinit_and_init_are_the_run_systems(stdrun_procs):
    s = p.Section(name="s")
    h("proc init() { finitialize(v_init)  forall v = -30 }")
    p.stdinit()
    assert s(0.5).v == -30
    p.init()
    assert s(0.5).v == -30


def test_a_failing_user_init_is_a_hoc_error(stdrun_procs):
    p.Section(name="s")
    h('proc init() { execerror("model not ready") }')
    with pytest.raises(HocError, match="model not ready"):
        p.run(1)


def test_an_event_for_a_freed_netcon_is_refused_right_after_finitialize(run_isolated):
    # Raw NEURON delivers the event to freed memory: a segmentation fault.
    out = run_isolated("""
        s = p.Section()
        syn = s.synapse(p.ExpSyn)
        nc = p.NetCon(None, syn, weight=0.1)
        p.finitialize(-65)
        nc.event(0.5)
        del s, syn, nc
        gc.collect()
        try:
            p.continuerun(1)
        except SimulatorError as error:
            print("refused:", error)
        p.finitialize(-65)  # the queue is empty again
        p.continuerun(1)
        print("t =", round(p.t, 6))
    """)
    assert (
        "refused: 2 NetCon(s) or synapse(s) were freed after the simulation was initialised" in out
    )
    assert "t = 1.0" in out


def test_freed_objects_are_noticed_after_an_init_by_hoc(run_isolated):
    out = run_isolated("""
        p.load_stdrun()
        s = p.Section()
        syn = s.synapse(p.ExpSyn)
        nc = p.NetCon(None, syn, weight=0.1)
        h.stdinit()  # raw hoc: Patch learns of the initialisation all the same
        nc.event(0.5)
        del s, syn, nc
        gc.collect()
        try:
            p.continuerun(1)
        except SimulatorError:
            print("refused")
        h.finitialize(-65)
        p.continuerun(1)
        print("t =", round(p.t, 6))
    """)
    assert out.split() == ["refused", "t", "=", "1.0"]


PROTOCOL = """
objref protocol_v
create protocol_soma
access protocol_soma
insert pas
protocol_v = new Vector()
protocol_v.record(&protocol_soma.v(0.5))
tstop = 2
run()
protocol_runs += 1
"""


def test_loading_a_protocol_again_runs_nothing_and_says_so(stdrun_procs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "protocol.hoc").write_text(PROTOCOL)
    h("protocol_runs = 0")
    p.load_file("protocol.hoc")
    assert h.protocol_runs == 1
    with pytest.warns(ReloadWarning, match=r"ran no code.*p.load_file\(1, 'protocol.hoc'\)"):
        p.load_file("protocol.hoc")
    assert h.protocol_runs == 1  # hoc really ran nothing: the warning tells the truth
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.load_file(1, "protocol.hoc")  # forced: runs again, no warning
        p.load_file("stdrun.hoc")  # NEURON's own library files are loaded once on purpose
    assert h.protocol_runs == 2
    h.delete_section(sec=h.protocol_soma)
    h.pop_section()


def test_run_system_variables_can_be_set_before_the_first_run(run_isolated):
    # Raw NEURON: "'v_init' is not a defined hoc variable name" until stdrun.hoc is loaded.
    out = run_isolated("""
        p.v_init = -70
        p.tstop = 3
        soma = p.Section()
        soma.insert("pas")
        v = soma.record()
        p.run()
        print(p.v_init, v[0], round(p.t, 9))
    """)
    assert out.split() == ["-70.0", "-70.0", "3.0"]


def test_cvode_switched_behind_the_run_systems_back_runs_as_in_neuron_unless_followed(
    run_isolated,
):
    out = run_isolated("""
        h.load_file("stdrun.hoc")
        soma = p.Section()
        soma.insert("pas")
        p.CVode().active(1)
        p.run(5)
        as_neuron = p.t
        h.run()
        assert as_neuron > 5.1 and h.t > 5.1  # raw NEURON steps CVode as if fixed-step
        assert patch.follow_cvode(True) is False
        p.run(5)
        followed = p.t
        h.run()
        print(as_neuron > 5.1, followed, h.t)
        assert patch.follow_cvode(False) is True
        try:
            patch.follow_cvode(1)
        except ArgumentError as error:
            print(error)
    """)
    lines = out.splitlines()
    assert lines[-2] == "True 5.0 5.0"
    assert lines[-1] == "follow_cvode(enabled) takes True or False, not 1."
