"""``@pytest.mark.nrn_configs``: one test in every configuration, against one golden."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

# The ring of data/ring_model.py; DELAY_BUG makes its connection delay depend on the
# number of ranks, the kind of bug that only a run on another rank count shows.
RING_MODEL = Path(__file__).parent / "data" / "ring_model.py"
RING = '''
import os

import pytest

from pytest_patch import current_config
from ring_model import ring


@pytest.mark.nrn_configs(ranks=(1, 2), threads=(1, 2), coreneuron=(False, True))
def test_ring(p, spike_regression):
    config = current_config()
    assert p.parallel.size == config.ranks and int(p.parallel.nthread()) == config.threads
    assert bool(p.coreneuron.enable) is config.coreneuron
    cells, model = ring(p, delay_per_rank=0.1 if os.environ.get("DELAY_BUG") else 0.0)
    spikes = p.parallel.record_spikes()
    p.run(40)
    spike_regression.check(spikes.gather(), window=1e-6)


def test_after_the_matrix_the_simulator_is_back(p):
    assert int(p.parallel.nthread()) == 1 and not p.coreneuron.enable
    assert not p.CVode().active()
'''


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Test name -> outcome, from a ``-v`` run's progress lines."""
    found = re.findall(r"^\S+::(\S+) (PASSED|FAILED|SKIPPED|ERROR)", result.stdout.str(), re.M)
    return dict(found)


@pytest.fixture
def ring_repo(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copy(RING_MODEL, pytester.path)
    pytester.makeini("[pytest]\npythonpath = .\n")
    return pytester


def test_every_combination_matches_one_golden(ring_repo: pytest.Pytester) -> None:
    pytester = ring_repo
    pytester.makepyfile(test_ring=RING)
    first = pytester.runpytest_subprocess("-v", "-p", "no:randomly")
    first.assert_outcomes(passed=8, failed=1)  # the first combination writes the golden
    assert sorted(p.name for p in (pytester.path / "test_ring").iterdir()) == ["test_ring.spikes.json"]
    result = pytester.runpytest_subprocess("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=9)
    assert set(outcomes(result)) == {
        "test_ring[ranks=1-threads=1]", "test_ring[ranks=1-threads=1-coreneuron]",
        "test_ring[ranks=1-threads=2]", "test_ring[ranks=1-threads=2-coreneuron]",
        "test_ring[ranks=2-threads=1]", "test_ring[ranks=2-threads=1-coreneuron]",
        "test_ring[ranks=2-threads=2]", "test_ring[ranks=2-threads=2-coreneuron]",
        "test_after_the_matrix_the_simulator_is_back",
    }
    # Under a direct mpiexec -n 2 the 2-rank combinations run; the others say why not.
    run = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--with-mpi", "-rs"],
        cwd=pytester.path, capture_output=True, text=True, timeout=180, check=False,
    )
    assert "5 passed, 4 skipped" in run.stdout, run.stdout + run.stderr
    assert "configuration ranks=1-threads=2 runs on 1 rank(s) and this world has 2" in run.stdout


def test_a_rank_dependent_bug_is_caught_naming_the_configuration(ring_repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester = ring_repo
    pytester.makepyfile(test_ring=RING.replace("coreneuron=(False, True)", "coreneuron=(False,)"))
    pytester.runpytest_subprocess("test_ring.py::test_ring[ranks=1-threads=1]")
    monkeypatch.setenv("DELAY_BUG", "1")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=2)
    text = result.stdout.str()
    assert "FAILED test_ring.py::test_ring[ranks=2-threads=1]" in text
    assert "FAILED test_ring.py::test_ring[ranks=2-threads=2]" in text
    assert "spikes of test_ring[ranks=2-threads=1] differ from the golden test_ring/test_ring.spikes.json" in text
    assert "the rasters diverge at t = 4.85 ms (gid 1)" in text
    assert "gid 1: shifted 4.85 -> 4.95 (+0.1)" in text
    assert (pytester.path / ".patch-artifacts" / "test_ring" / "test_ring__ranks=2-threads=1.spikes.png").exists()


BAD = '''
import pytest


@pytest.mark.nrn_configs(rank=(1, 2))
def test_unknown(p):
    pass


@pytest.mark.nrn_configs(threads=())
def test_empty(p):
    pass


@pytest.mark.nrn_configs((1, 2))
def test_positional(p):
    pass


@pytest.mark.nrn_configs(cvode=("yes",))
def test_not_bool(p):
    pass
'''


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("test_unknown", "nrn_configs has no rank: its keywords are ranks, threads, cvode, coreneuron"),
        ("test_empty", "threads=() gives no configuration: give at least one value"),
        ("test_positional", "nrn_configs takes keywords only (ranks, threads, cvode, coreneuron), not ((1, 2),)"),
        ("test_not_bool", "cvode must be True or False, not ('yes',)"),
    ],
)
def test_bad_markers_fail_collection_with_the_reason(pytester: pytest.Pytester, name: str, message: str) -> None:
    source = "import pytest\n\n\n" + next(part for part in BAD.split("\n\n\n") if f"def {name}(" in part)
    pytester.makepyfile(test_bad=source)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    assert f"test_bad.py::{name}: {message}" in result.stdout.str()


def test_impossible_combinations_and_unchecked_matrices_say_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cvode='''
import pytest
from pytest_patch import current_config


@pytest.mark.nrn_configs(cvode=(False, True), coreneuron=(False, True))
def test_step(p, section, recording, trace_regression):
    assert p.CVode().active() == current_config().cvode
    section.insert("pas")
    v = recording(section)
    p.run(5)
''')
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines([
        "*impossible combination: CoreNEURON has no variable time step: coreneuron=True with cvode=True cannot run",
    ])
    pytester.makepyfile(test_cvode='''
import pytest


@pytest.mark.nrn_configs(threads=(1, 2))
def test_step(p):
    pass
''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*ConfigsWarning: test_step runs in 2 configurations but uses no regression fixture, so nothing compares them*",
    ])
    many = os.cpu_count() + 1
    pytester.makepyfile(test_cvode=f'''
import pytest


@pytest.mark.nrn_configs(ranks=({many},))
def test_step(p, trace_regression):
    pass
''')
    result = pytester.runpytest_subprocess("--co")
    result.stdout.fnmatch_lines([
        f"*ConfigsWarning: test_step asks for {many} ranks on a machine with {many - 1} cores: the mpich wheel oversubscribes by itself (slowly); Open MPI refuses unless launched with --mpi-launcher 'mpirun --oversubscribe'",
    ])


TINY_MOD = """
NEURON {
    SUFFIX leak2
    NONSPECIFIC_CURRENT i
    RANGE g, e
}
PARAMETER {
    g = 0.001 (S/cm2)
    e = -70 (mV)
}
ASSIGNED {
    v (mV)
    i (mA/cm2)
}
BREAKPOINT {
    i = g * (v - e)
}
"""

# Compiles for NEURON, not for CoreNEURON: ifarg and getarg belong to NEURON's interpreter.
NEURON_ONLY_MOD = TINY_MOD + """
FUNCTION given() {
VERBATIM
    _lgiven = ifarg(1) ? *getarg(1) : 0.;
ENDVERBATIM
}
"""


def test_coreneuron_runs_the_repositorys_mechanisms(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # As left by `import neuron.nmodl`: a folder without NMODL's nrnunits.lib, which made
    # `nrnivmodl -coreneuron` fail when passed on.
    package = Path(importlib.util.find_spec("neuron").origin).parent
    monkeypatch.setenv("NMODLHOME", str(package / ".data" / "share" / "nrn"))
    (pytester.path / "mod").mkdir()
    (pytester.path / "mod" / "leak2.mod").write_text(TINY_MOD)
    pytester.makepyfile(test_leak='''
import pytest


@pytest.mark.nrn_configs(coreneuron=(False, True))
def test_rest(p, section, recording, trace_regression):
    section.insert("leak2")
    section.insert("hh")
    v = recording(section)
    p.run(20)
    trace_regression.check({"soma": v}, atol=1e-9)
''')
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_leak.py::test_rest: coreneuron=True runs the repository's mechanisms (nrn_mod_dirs) in CoreNEURON, which needs them compiled for it too: add nrn_coreneuron = true to the ini file"])
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod\nnrn_coreneuron = true\n")
    first = pytester.runpytest_subprocess("-p", "no:randomly")
    first.assert_outcomes(passed=1, failed=1)
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
    # A mechanism that NEURON compiles and CoreNEURON cannot: the compiler's message.
    (pytester.path / "mod" / "leak2.mod").write_text(NEURON_ONLY_MOD)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stderr.str() + result.stdout.str()
    assert "nrnivmodl could not compile the mod folder" in output
    assert "error: ‘ifarg’ was not declared in this scope" in output


def test_isolated_tests_run_each_configuration_on_a_fresh_neuron(ring_repo: pytest.Pytester) -> None:
    ring_repo.makepyfile(test_iso='''
import os

import pytest

from pytest_patch import current_config
from ring_model import ring


@pytest.mark.nrn_isolated
@pytest.mark.nrn_configs(ranks=(1, 2), threads=(1, 2))
def test_ring(p, spike_regression):
    assert (p.parallel.size, int(p.parallel.nthread())) == (current_config().ranks, current_config().threads)
    cells, model = ring(p)
    spikes = p.parallel.record_spikes()
    p.run(40)
    spike_regression.check(spikes.gather(), window=1e-6)
    print("pid", os.getpid())
''')
    ring_repo.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=3, failed=1)
    result = ring_repo.runpytest_subprocess("-rP")
    result.assert_outcomes(passed=4)
    pids = {line for line in result.stdout.lines if line.startswith("pid ")}
    # The two 1-rank configurations, each in a process of its own (the 2-rank ones run in
    # a world of their own, whose output stays with its ranks).
    assert len(pids) >= 2, pids
