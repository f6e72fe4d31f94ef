"""Hypothesis tests get a clean simulator per example through ``nrn_simulator``."""

import pytest

# Slow (a pytest session in a subprocess): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from hypothesis import given, settings, strategies as st

from pytest_patch.strategies import morphologies

SEEN = []


@settings(max_examples=15, derandomize=True, database=None)
@given(morphology=morphologies(max_sections=3, points=None), celsius=st.floats(6, 37))
def test_every_example_starts_at_the_baseline(nrn_simulator, morphology, celsius):
    with nrn_simulator.example() as p:
        SEEN.append((p.celsius, p.dt, p.t, p.tstop))
        p.celsius, p.dt = celsius, 0.05   # changed for this example only
        for section in morphology.sections:
            section.insert("pas")
            section.e_pas = -70
        p.run(5)
        assert morphology.root(0.5).v == pytest.approx(-70, abs=1)


def test_all_examples_started_alike():
    assert len(SEEN) == 15 and len(set(SEEN)) == 1, SEEN


@given(st.integers())
def test_p_is_refused_by_hypothesis(p, n):
    pass
"""


def test_nrn_simulator_resets_every_example(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS")  # the suite's @given tests need hypothesis's plugin
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    # What a user who reaches for p in an @given test is told, and where to look.
    result.stdout.fnmatch_lines(["*function-scoped fixture*'p'*"])
