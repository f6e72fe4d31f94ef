"""Installing Patch changes no one else's tests: the plugin starts NEURON (and loads the
run system) only for tests that ask for it."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

# Slow (other projects' suites in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

HOC_NAMES = """
import os
import sys

# A suite that sets NEURON's options before importing it, as NEURON's own tests do.
os.environ["NEURON_MODULE_OPTIONS"] = "-nogui -NSTACK 4000"
assert "neuron" not in sys.modules, "something imported NEURON before this test module"

from neuron import h


def test_hoc_names_of_the_run_system_are_free():
    # stdrun.hoc declares hoc names such as `b`; a hoc section may be renamed to one
    # only while the run system is not loaded.
    h("create sec_to_rename")
    ref = h.SectionRef(sec=h.sec_to_rename)
    ref.unname()
    ref.rename("b")
    assert ref.sec.name() == "b"
    assert h.name_declared("tstop") == 0
"""


def test_a_suite_that_never_asks_for_patch_runs_as_without_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hoc_names=HOC_NAMES)
    with_plugin = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    with_plugin.assert_outcomes(passed=1)
    without = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pytest_patch")
    without.assert_outcomes(passed=1)


def outcomes(junit):
    cases = ET.parse(junit).getroot().iter("testcase")
    return {
        f"{case.get('classname')}::{case.get('name')}": next(
            (child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed"
        )
        for case in cases
    }


def test_neurons_own_tests_are_unchanged_by_the_plugin(tmp_path) -> None:
    """NEURON's Python tests that ship in its wheel, with and without the plugin."""
    modules = ["neuron.tests.test_vector", "neuron.tests.test_neuron", "neuron.tests.test_nmodl"]
    results = []
    for label, extra in (("with", []), ("without", ["-p", "no:pytest_patch"])):
        junit = tmp_path / f"{label}.xml"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                *extra,
                f"--junitxml={junit}",
                "--pyargs",
                *modules,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode in (0, 1), run.stdout + run.stderr
        results.append(outcomes(junit))
    with_plugin, without = results
    assert len(without) >= 20
    assert with_plugin == without


MPI_MARKED = """
import pytest


@pytest.mark.mpi(min_size=2)
def test_needs_two_ranks():
    from mpi4py import MPI
    assert MPI.COMM_WORLD.Get_size() == 2


@pytest.mark.mpi
def test_marked_mpi():
    pass
"""


def test_a_project_opts_out_of_child_runs(pytester: pytest.Pytester) -> None:
    """mpi_child_runs = false: tests marked mpi are skipped as pytest-mpi skips them in a
    serial run, a plain ``mpi`` mark too."""
    pytester.makepyfile(test_mpi_marked=MPI_MARKED)
    pytester.makeini("[pytest]\nmpi_child_runs = false\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*tests marked mpi are skipped (mpi_child_runs = false)*",
            "*marked mpi and mpi_child_runs = false (as pytest-mpi, MPI tests are skipped in a serial run): run `mpiexec -n 2 python -m pytest --with-mpi`*",
        ]
    )
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # by default they run, in a child mpiexec -n 2 and here
