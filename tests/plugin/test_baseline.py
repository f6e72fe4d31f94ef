"""Every test starts from the same simulator, whatever the tests before it changed.

Each inner suite is run in several orders (pytest runs node ids in the order given), and
every test must pass in every order: its verdict may not depend on what ran before it.
"""

from __future__ import annotations

import itertools

import pytest

# Slow (pytest sessions in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

# Every way of switching CVode on (and back off) through Patch and raw NEURON; after any
# of them a run ends at tstop, and the next test runs fixed-step to exactly tstop.
CVODE_SUITE = """
import pytest
from neuron import h

FIXED_END = {}


def cell(p, mechanism):
    soma = p.Section(name="soma")
    soma.L = soma.diam = 20
    soma.insert(mechanism)
    return soma


def ends_at_tstop(p, mechanism, tstop=5):
    soma = cell(p, mechanism)
    v = soma.record()
    p.run(tstop)
    assert p.t == pytest.approx(tstop, abs=1e-9), f"the run ended at t = {p.t!r}"
    return len(v)


@pytest.mark.parametrize("mechanism", ["hh", "pas"])
@pytest.mark.parametrize("way", [
    "p.CVode().active", "p.cvode.active", "p.cvode_active", "h.CVode().active",
    "h.cvode_active",
])
def test_switch_on(p, way, mechanism):
    switch = eval(way, {"p": p, "h": h})
    switch(1)
    assert ends_at_tstop(p, mechanism) < 201  # variable steps, not 200 fixed ones
    p.run(5)  # and again: a second run from the same state
    assert p.t == pytest.approx(5, abs=1e-9)


@pytest.mark.parametrize("way", ["p.CVode().active", "p.cvode.active", "p.cvode_active"])
def test_switch_on_then_off(p, way):
    switch = eval(way, {"p": p, "h": h})
    switch(1)
    ends_at_tstop(p, "hh")
    switch(0)
    assert ends_at_tstop(p, "hh") == 201


def test_leaves_it_on_for_the_next(p):
    p.cvode_active(1)
    p.cvode.atol(1e-8)
    p.cvode.use_local_dt(1)


@pytest.mark.nrn_configs(cvode=(False, True))
def test_in_every_configuration(p, nrn_config):
    assert p.cvode.active() == nrn_config.cvode
    assert ends_at_tstop(p, "hh", tstop=10) == (401 if not nrn_config.cvode else
                                               pytest.approx(150, abs=149))


def test_untouched(p):
    assert p.cvode.active() == 0 and p.using_cvode_ == 0 and p.cvode.use_local_dt() == 0
    assert p.cvode.atol() == 1e-3
    assert ends_at_tstop(p, "hh") == 201
    FIXED_END.setdefault("v", p.t)
    assert p.t == FIXED_END["v"]
"""

# Global settings of every kind that a test may change; each is back before the next.
SETTINGS_SUITE = """
import pytest
from neuron import h

BASELINE = {
    "secondorder": 0, "celsius": 6.3, "dt": 0.025, "tstop": 5, "v_init": -65,
    "steps_per_ms": 40, "nai0_na_ion": 10, "ko0_k_ion": 2.5, "usetable_hh": 1,
}


def check_baseline(p):
    assert {name: getattr(h, name) for name in BASELINE} == pytest.approx(BASELINE)
    assert (p.cvode.active(), p.cvode.atol(), p.cvode.rtol(), p.cvode.maxorder()) == (
        0, 1e-3, 0, 5)
    assert p.parallel.nthread() == 1
    assert h.Random().Random123_globalindex() == 0


def test_changes_everything(p):
    check_baseline(p)
    p.secondorder = 2
    h.celsius, h.dt, h.tstop, h.v_init, h.steps_per_ms = 34, 0.1, 100, -80, 10
    h.nai0_na_ion, h.ko0_k_ion, h.usetable_hh = 20, 3, 0
    p.cvode.atol(1e-7)
    p.cvode.rtol(1e-5)
    p.cvode.maxorder(3)
    p.parallel.nthread(2)
    h.Random().Random123_globalindex(11)


def test_changes_through_hoc(p):
    check_baseline(p)
    h("secondorder = 2  celsius = 30  nao0_na_ion = 100")


def test_sees_the_baseline(p):
    check_baseline(p)


def test_without_p():
    h.secondorder = 1
    h.celsius = 22


def test_sees_the_baseline_after_a_test_without_p(p):
    check_baseline(p)
"""

CONFTEST_STARTS_NEURON = "from neuron import h\n"


def _orders(names: list[str], count: int) -> list[list[str]]:
    """``count`` distinct orders of ``names``: as written, reversed, and rotations."""
    orders = [names, names[::-1]]
    for shift in itertools.count(1):
        if len(orders) >= count:
            break
        orders.append(names[shift:] + names[:shift])
    return orders[:count]


def _run_in_orders(pytester: pytest.Pytester, source: str, names: list[str]) -> None:
    pytester.makepyfile(test_suite=source)
    for order in _orders(names, 3):
        args = [f"test_suite.py::{name}" for name in order]
        result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)
        assert result.ret == 0, f"order {order}:\n" + "\n".join(result.outlines[-40:])


def test_every_way_of_switching_cvode_runs_to_tstop_in_any_order(pytester):
    pytester.makeconftest(CONFTEST_STARTS_NEURON)
    _run_in_orders(
        pytester,
        CVODE_SUITE,
        [
            "test_untouched",
            "test_switch_on",
            "test_leaves_it_on_for_the_next",
            "test_switch_on_then_off",
            "test_in_every_configuration",
        ],
    )


def test_global_settings_are_back_at_the_baseline_in_any_order(pytester):
    pytester.makeconftest(CONFTEST_STARTS_NEURON)
    _run_in_orders(
        pytester,
        SETTINGS_SUITE,
        [
            "test_changes_everything",
            "test_sees_the_baseline",
            "test_changes_through_hoc",
            "test_without_p",
            "test_sees_the_baseline_after_a_test_without_p",
        ],
    )


def test_a_test_that_starts_neuron_does_not_set_the_baseline(pytester):
    # No conftest imports NEURON: the first test does, and changes settings at once.
    pytester.makepyfile(
        test_first="""
        def test_starts_neuron_and_changes_it():
            from neuron import h
            h.celsius, h.dt, h.secondorder = 34, 0.1, 2

        def test_uses_p(p):
            assert (p.celsius, p.dt, p.secondorder, p.tstop) == (6.3, 0.025, 0, 5)
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_objects_left_by_a_test_without_p_are_reported_to_the_next_p_test(pytester):
    pytester.makeconftest(CONFTEST_STARTS_NEURON)
    pytester.makepyfile(
        test_left="""
        import pytest
        from neuron import h


        @pytest.fixture(scope="module")
        def shared_cell():
            return h.Section(name="shared")


        def test_creates_a_hoc_section():
            h("create soma")


        def test_uses_a_module_fixture(shared_cell):
            assert shared_cell.name() == "shared"


        def test_with_p(p, shared_cell):
            assert sorted(s.name() for s in p.allsec()) == ["shared", "soma"]


        def test_with_p_again(p, shared_cell):
            pass
    """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error::pytest_patch.leaks.LeakWarning", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=3, errors=1)
    out = result.stdout.str()
    assert "ERROR at setup of test_with_p " in out
    assert (
        "NEURON objects made by earlier tests that do not use the p fixture are alive and "
        "take part in this test's simulation: test_left.py::test_creates_a_hoc_section "
        "left soma."
    ) in out
    assert "shared" not in out[out.index("take part in this test's") :].split("\n")[0]


def test_a_module_fixtures_model_in_a_reference_cycle_is_gone_before_the_next_test(pytester):
    # The usual Python cell (Section(cell=self)) references itself through its sections:
    # torn down after its module's last test, only a garbage collection frees it. Until
    # then it would be in the next test's simulation, whatever that test builds.
    pytester.makepyfile(
        test_cells="""
        import pytest


        class Cell:
            def __init__(self, p, name):
                self.soma = p.Section(name=name, cell=self)
                self.soma.insert("hh")
                self.stim = p.IClamp(self.soma(0.5))
                self.stim.delay, self.stim.dur, self.stim.amp = 1, 50, 0.5


        @pytest.fixture(scope="module")
        def cells():
            from patch import p
            return [Cell(p, f"cell{i}") for i in range(3)]


        def test_uses_the_cells(p, cells):
            assert len(list(p.allsec())) == 3
        """,
        test_alone="""
        def test_alone(p):
            soma = p.Section(name="alone")
            soma.insert("hh")
            p.run(5)
            assert [s.name() for s in p.allsec()] == ["alone"]
        """,
    )
    for order in (["test_cells.py", "test_alone.py"], ["test_alone.py", "test_cells.py"]):
        result = pytester.runpytest_subprocess(
            "-p", "no:randomly", "-p", "no:cacheprovider", *order
        )
        assert result.ret == 0, f"order {order}:\n" + "\n".join(result.outlines[-40:])


def test_a_test_without_p_that_loads_the_run_system_does_not_set_its_baseline(pytester):
    # NEURON is started at import, the run system only by the first test, which changes it
    # without the p fixture: the next tests still start from NEURON's own run settings.
    pytester.makeconftest(CONFTEST_STARTS_NEURON)
    pytester.makepyfile(
        test_first="""
        from neuron import h

        def test_loads_the_run_system_and_changes_it():
            h.load_file("stdrun.hoc")
            h.v_init, h.tstop, h.steps_per_ms = -70, 7, 10

        def test_uses_p(p):
            assert (p.v_init, p.tstop, p.steps_per_ms) == (-65, 5, 40)

        def test_again(p):
            assert (p.v_init, p.tstop, p.steps_per_ms) == (-65, 5, 40)
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
