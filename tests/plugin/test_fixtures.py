"""The p, section, iclamp and recording fixtures, run in real pytest sessions."""

from __future__ import annotations

import pytest

# Slow (pytest sessions in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

# One inner suite exercises the fixtures; the same file is then run under each leak mode.
SUITE = '''
import gc

import numpy as np
import pytest
from neuron import h

from patch import Section, Vector, exceptions
from pytest_patch import Recording

LEAKED = []
SPIKES = {}
BASELINE = {
    "t": 0.0, "dt": 0.025, "celsius": 6.3, "tstop": 5.0, "v_init": -65.0, "steps_per_ms": 40.0
}


def check_baseline(p):
    assert {name: getattr(p, name) for name in BASELINE} == BASELINE
    assert p.cvode.active() == 0


@pytest.fixture(scope="module")
def network():
    """A model built once for the module: a stimulated cell that transmits gid 5."""
    from patch import p

    cell = p.Section(name="cell")
    cell.L = cell.diam = 10
    cell.insert("hh")
    stimulus = p.NetStim()
    stimulus.start, stimulus.number, stimulus.interval = 1, 3, 5
    synapse = cell.synapse(p.ExpSyn)
    p.NetCon(stimulus, synapse, weight=0.5, delay=1)
    p.ParallelCon(cell, 5)
    return cell


@pytest.fixture
def cell(p):
    """A function-scoped cell: torn down before p checks for leaks."""
    soma = p.Section(name="soma")
    soma.insert("pas")
    return soma


def test_changes_state(p):
    check_baseline(p)
    p.celsius, p.dt, p.tstop, p.v_init, p.steps_per_ms = 37, 0.1, 100, -80, 10
    p.cvode.active(1)
    dropped = p.Section(name="dropped")
    p.run(2)
    assert p.t >= 2


def test_starts_from_baseline(p):
    check_baseline(p)
    assert list(p.allsec()) == []


def test_model_first(p, network):
    check_baseline(p)
    recorder = p.parallel.record_spikes()
    p.run(20)
    SPIKES["first"] = recorder.local()["time"].tolist()
    assert recorder.local()["gid"].tolist() == [5, 5]


def test_model_second(p, network):
    assert [s.name() for s in p.allsec()] == ["cell"]
    recorder = p.parallel.record_spikes()
    p.run(20)
    assert recorder.local()["time"].tolist() == SPIKES["first"]


def test_leaks_to_a_global(p):
    section = p.Section(name="leaky")
    LEAKED.append(section.synapse(p.ExpSyn))


def test_function_fixture_is_no_leak(p, cell, section):
    assert cell.name() == "soma" and section.name() == "section"
    assert set(p.allsec()) >= {cell, section}


def test_fails_holding_a_section(p):
    doomed = p.Section(name="doomed")
    assert doomed.name() == "not this"


def test_after_failure_nothing_left(p):
    assert [s.name() for s in p.allsec()] == ["cell", "leaky"]
    LEAKED.clear()


def test_gid_reused_a(p):
    p.ParallelCon(p.Section(), 7)


def test_gid_reused_b(p):
    p.ParallelCon(p.Section(), 7)
    assert p.parallel.gid_exists(7)


def test_hoc_error_is_an_exception(p):
    h("proc fails() { execerror(\\"broken model\\", \\"\\") }")
    with pytest.raises(exceptions.HocError, match="broken model"):
        p.fails()
    with pytest.raises(RuntimeError):
        p.sqrt(-1)


def test_factories(p, section, iclamp, recording):
    section.L = section.diam = 10
    section.insert("pas")
    clamp = iclamp(section, amp=0.2, delay=1)
    assert (clamp.amp, clamp.delay, clamp.get_segment().x) == (0.2, 1, 0.5)
    assert clamp.dur >= 1e6  # the whole run
    v = recording(section)
    at_end = recording(section(1.0))
    current = recording(clamp._ref_i)
    assert isinstance(v, Recording) and isinstance(v.vector, Vector)
    p.run(5)
    for trace in (v, at_end, current):
        assert isinstance(trace.values, np.ndarray) and isinstance(trace.time, np.ndarray)
        assert trace.values.shape == trace.time.shape == (201,)
    assert trace.time[-1] == pytest.approx(5)
    assert current.values[0] == 0 and current.values[-1] == pytest.approx(0.2)
    assert v.values[-1] > v.values[0]
    kept = v.values
    p.run(1)
    assert len(kept) == 201 and len(v) == 41


def test_recording_time_outlives_other_sections(p, recording):
    first, kept = p.Section(name="first"), p.Section(name="kept")
    v = recording(kept)
    del first
    gc.collect()
    p.run(1)
    assert len(v.time) == len(v.values) == 41


def test_factory_targets(p, iclamp, recording):
    soma = Section()
    soma.nseg = 5
    train = iclamp(soma(0.3), amp=[0.1, 0.2, 0.3], delay=1)
    assert train.get_segment().x == pytest.approx(0.3) and train.dur == pytest.approx(3 * p.dt)
    raw = h.Section(name="raw")
    clamp = iclamp(raw, amp=0.5, duration=2)
    assert (clamp.amp, clamp.dur) == (0.5, 2)
    played = iclamp(raw, amp=[1, 2])  # the same clamp for raw and Patch sections
    assert played.dur == pytest.approx(2 * p.dt)
    with pytest.raises(TypeError, match="sequence"):
        iclamp(raw, amp="1")
    with pytest.raises(ValueError, match=">= 0"):
        iclamp(soma, delay=-1)
    with pytest.raises(exceptions.NotRecordableError):
        recording("soma")
    del raw, clamp, played
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_clean_simulator_and_leaks_as_errors(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=13, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_to_a_global*",
            "test_suite.py::test_leaks_to_a_global left 2 NEURON objects alive after its teardown:",
            "  sections: leaky",
            "  point processes: ExpSyn[[]*[]]",
            "Held by: LEAKED in module test_suite.",
            "*module-level list*",
        ]
    )
    failures = result.stdout.str()
    assert "ERROR test_suite.py::test_leaks_to_a_global" in failures
    assert "FAILED test_suite.py::test_fails_holding_a_section" in failures
    # A failing test's own objects are not reported as its leak.
    assert "test_fails_holding_a_section left" not in failures


def test_leaks_as_warnings(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--nrn-leaks=warn")
    result.assert_outcomes(passed=13, failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*LeakWarning: test_suite.py::test_leaks_to_a_global left 2 NEURON objects alive*"]
    )


def test_leaks_off_from_ini(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\nnrn_leaks = off\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=13, failed=1)
    assert "left 2 NEURON objects" not in result.stdout.str()


def test_bad_leak_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--nrn-leaks=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--nrn-leaks*invalid choice*'sometimes'*error*warn*off*"])
    pytester.makeini("[pytest]\nnrn_leaks = loud\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*nrn_leaks = 'loud' is not a leak mode: use one of error, warn, off.*"]
    )


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    output = result.stdout.str()
    for name, phrase in [
        ("p", "clean simulator"),
        ("section", "fresh"),
        ("iclamp", "factory of current clamps"),
        ("recording", "factory of recordings"),
    ]:
        assert f"\n{name} -- " in output or f"\n{name} [" in output, name
        assert phrase in output, phrase


@pytest.mark.mpi(min_size=2)
def test_hoc_error_under_mpi_is_an_exception(p) -> None:
    from patch import exceptions, transform
    from pytest_patch import assert_all

    transform(p)('proc fails_on_every_rank() { execerror("broken model", "") }')
    with pytest.raises(exceptions.HocError, match="broken model"):
        p.fails_on_every_rank()
    assert (p.t, p.dt, p.celsius) == (0, 0.025, 6.3)
    assert_all(p.parallel.size >= 2, "every rank is still alive and in step")
