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

# Slow (child mpiexec runs and CoreNEURON builds): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

# The ring of data/ring_model.py; DELAY_BUG makes its connection delay depend on the
# number of ranks, the kind of bug that only a run on another rank count shows.
RING_MODEL = Path(__file__).parent / "data" / "ring_model.py"
RING = """
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
"""


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
    assert sorted(p.name for p in (pytester.path / "test_ring").iterdir()) == [
        "test_ring.spikes.json"
    ]
    result = pytester.runpytest_subprocess("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=9)
    assert set(outcomes(result)) == {
        "test_ring[ranks=1-threads=1]",
        "test_ring[ranks=1-threads=1-coreneuron]",
        "test_ring[ranks=1-threads=2]",
        "test_ring[ranks=1-threads=2-coreneuron]",
        "test_ring[ranks=2-threads=1]",
        "test_ring[ranks=2-threads=1-coreneuron]",
        "test_ring[ranks=2-threads=2]",
        "test_ring[ranks=2-threads=2-coreneuron]",
        "test_after_the_matrix_the_simulator_is_back",
    }
    # Under a direct mpiexec -n 2 the 2-rank combinations run; the others say why not.
    run = subprocess.run(
        [
            MPIEXEC,
            "-n",
            "2",
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--with-mpi",
            "-rs",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "5 passed, 4 skipped" in run.stdout, run.stdout + run.stderr
    assert "configuration ranks=1-threads=2 runs on 1 rank(s) and this world has 2" in run.stdout


def test_a_rank_dependent_bug_is_caught_naming_the_configuration(
    ring_repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester = ring_repo
    pytester.makepyfile(test_ring=RING.replace("coreneuron=(False, True)", "coreneuron=(False,)"))
    pytester.runpytest_subprocess("test_ring.py::test_ring[ranks=1-threads=1]")
    monkeypatch.setenv("DELAY_BUG", "1")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=2)
    text = result.stdout.str()
    assert "FAILED test_ring.py::test_ring[ranks=2-threads=1]" in text
    assert "FAILED test_ring.py::test_ring[ranks=2-threads=2]" in text
    assert (
        "spikes of test_ring[ranks=2-threads=1] differ from the golden test_ring/test_ring.spikes.json"
        in text
    )
    assert "the rasters diverge at t = 4.85 ms (gid 1)" in text
    assert "gid 1: shifted 4.85 -> 4.95 (+0.1)" in text
    assert (
        pytester.path / ".patch-artifacts" / "test_ring" / "test_ring__ranks=2-threads=1.spikes.png"
    ).exists()


BAD = """
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
"""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "test_unknown",
            "nrn_configs has no rank: its keywords are ranks, threads, cvode, coreneuron",
        ),
        ("test_empty", "threads=() gives no configuration: give at least one value"),
        (
            "test_positional",
            "nrn_configs takes keywords only (ranks, threads, cvode, coreneuron), not ((1, 2),)",
        ),
        ("test_not_bool", "cvode must be True or False, not ('yes',)"),
    ],
)
def test_bad_markers_fail_collection_with_the_reason(
    pytester: pytest.Pytester, name: str, message: str
) -> None:
    source = "import pytest\n\n\n" + next(
        part for part in BAD.split("\n\n\n") if f"def {name}(" in part
    )
    pytester.makepyfile(test_bad=source)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    assert f"test_bad.py::{name}: {message}" in result.stdout.str()


def test_impossible_combinations_and_unchecked_matrices_say_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cvode="""
import pytest
from pytest_patch import current_config


@pytest.mark.nrn_configs(cvode=(False, True), coreneuron=(False, True))
def test_step(p, section, recording, trace_regression):
    assert p.CVode().active() == current_config().cvode
    section.insert("pas")
    v = recording(section)
    p.run(5)
"""
    )
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*impossible combination: CoreNEURON has no variable time step: coreneuron=True with cvode=True cannot run",
        ]
    )
    pytester.makepyfile(
        test_cvode="""
import pytest


@pytest.mark.nrn_configs(threads=(1, 2))
def test_step(p):
    pass
"""
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*ConfigsWarning: test_step runs in 2 configurations but uses no regression fixture, so nothing compares them*",
        ]
    )
    many = os.cpu_count() + 1
    pytester.makepyfile(
        test_cvode=f"""
import pytest


@pytest.mark.nrn_configs(ranks=({many},))
def test_step(p, trace_regression):
    pass
"""
    )
    result = pytester.runpytest_subprocess("--co")
    result.stdout.fnmatch_lines(
        [
            f"*ConfigsWarning: test_step asks for {many} ranks on a machine with {many - 1} cores: the mpich wheel oversubscribes by itself (slowly); Open MPI refuses unless launched with --mpi-launcher 'mpirun --oversubscribe'",
        ]
    )


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
NEURON_ONLY_MOD = (
    TINY_MOD
    + """
FUNCTION given() {
VERBATIM
    _lgiven = ifarg(1) ? *getarg(1) : 0.;
ENDVERBATIM
}
"""
)


# Compiles for NEURON; CoreNEURON's compiler refuses a GLOBAL written during the run.
GLOBAL_TADJ_MOD = """
NEURON {
    SUFFIX catadj
    USEION ca READ eca WRITE ica
    RANGE gbar
    GLOBAL q10, tadj
}
PARAMETER {
    gbar = 0.0001 (S/cm2)
    q10 = 2.3
}
ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    celsius (degC)
    tadj
}
BREAKPOINT {
    tadj = q10^((celsius - 23) / 10)
    ica = tadj * gbar * (v - eca)
}
"""

USES_BOTH_FOLDERS = """
import pytest


@pytest.mark.nrn_configs(coreneuron=(False, True))
def test_leak(p, section, recording, trace_regression):
    section.insert("leak2")
    section.insert("hh")
    v = recording(section)
    p.run(20)
    trace_regression.check({"soma": v}, atol=1e-9)


@pytest.mark.nrn_configs(coreneuron=(False, True))
def test_calcium(p, section, recording, trace_regression):
    section.insert("catadj")
    section.insert("hh")
    v = recording(section)
    p.run(20)
    trace_regression.check({"soma": v}, atol=1e-9)


def test_calcium_in_neuron(p, section):
    section.insert("catadj")
    p.run(1)
    assert p.tadj_catadj > 0
"""


def test_coreneuron_runs_the_mechanisms_it_can_compile_and_skips_the_others(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As left by `import neuron.nmodl`: a folder without NMODL's nrnunits.lib, which made
    # `nrnivmodl -coreneuron` fail when passed on.
    package = Path(importlib.util.find_spec("neuron").origin).parent
    monkeypatch.setenv("NMODLHOME", str(package / ".data" / "share" / "nrn"))
    for folder, name, text in (("mod", "leak2", TINY_MOD), ("mod_ca", "catadj", GLOBAL_TADJ_MOD)):
        (pytester.path / folder).mkdir()
        (pytester.path / folder / f"{name}.mod").write_text(text)
    pytester.makepyfile(test_both=USES_BOTH_FOLDERS)
    # No nrn_coreneuron key (auto): each folder is tried for CoreNEURON when a test needs it.
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod mod_ca\n")
    first = pytester.runpytest_subprocess("-p", "no:randomly", "-rs")
    first.assert_outcomes(passed=2, failed=2, skipped=1)  # the first of each writes its golden
    result = pytester.runpytest_subprocess("-v", "-rs")
    result.assert_outcomes(passed=4, skipped=1)
    assert outcomes(result) == {
        "test_leak[ranks=1-threads=1]": "PASSED",
        "test_leak[ranks=1-threads=1-coreneuron]": "PASSED",
        "test_calcium[ranks=1-threads=1]": "PASSED",
        "test_calcium[ranks=1-threads=1-coreneuron]": "SKIPPED",
        "test_calcium_in_neuron": "PASSED",
    }
    result.stdout.fnmatch_lines(
        [
            "*nrn mods: *mod for CoreNEURON -> *libcorenrnmech*",
            'nrn mods: no CoreNEURON build of *mod_ca (its CoreNEURON tests that use its mechanisms are skipped): *"tadj"*should be defined as a RANGE variable instead of GLOBAL*',
            "SKIPPED *CoreNEURON cannot run this model: it uses catadj, and the CoreNEURON build (nrnivmodl -coreneuron) of *mod_ca failed: CoreNEURON cannot run these mechanisms (NEURON can; its build is separate).",
        ]
    )
    assert "(remembered from an earlier build of the same sources" in result.stdout.str()

    # nrn_coreneuron = true insists: the failure stops the session, saying what auto does.
    pytester.makeini("[pytest]\nnrn_mod_dirs =\n    mod\n    mod_ca\nnrn_coreneuron = true\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: The CoreNEURON build (nrnivmodl -coreneuron) of *mod_ca failed*",
            "*should be defined as a RANGE variable instead of GLOBAL*",
            "*with nrn_coreneuron = auto, NEURON's tests run*",
        ]
    )
    # nrn_coreneuron = false: never built for CoreNEURON; its runs of them are skipped.
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod mod_ca\nnrn_coreneuron = false\n")
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=3, skipped=2)
    result.stdout.fnmatch_lines(["*it uses leak2, and *compiled for NEURON only*set it to auto*"])
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod\nnrn_coreneuron = maybe\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: nrn_coreneuron = 'maybe': give auto (the default), true or false."]
    )


def test_a_mechanism_coreneuron_cannot_compile_in_c_is_its_build_failing(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "mod").mkdir()
    (pytester.path / "mod" / "leak2.mod").write_text(NEURON_ONLY_MOD)
    pytester.makepyfile(
        test_leak=USES_BOTH_FOLDERS.split(
            "@pytest.mark.nrn_configs(coreneuron=(False, True))\ndef test_calcium"
        )[0]
    )
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod\n")
    result = pytester.runpytest_subprocess("-rs", "--nrn-regen")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*it uses leak2, and the CoreNEURON build (nrnivmodl -coreneuron) of *mod failed*",
        ]
    )
    assert "error: ‘ifarg’ was not declared in this scope" in result.stdout.str()


def test_isolated_tests_run_each_configuration_on_a_fresh_neuron(
    ring_repo: pytest.Pytester,
) -> None:
    ring_repo.makepyfile(
        test_iso="""
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
"""
    )
    ring_repo.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=3, failed=1)
    result = ring_repo.runpytest_subprocess("-rP")
    result.assert_outcomes(passed=4)
    pids = {line for line in result.stdout.lines if line.startswith("pid ")}
    # The two 1-rank configurations, each in a process of its own (the 2-rank ones run in
    # a world of their own, whose output stays with its ranks).
    assert len(pids) >= 2, pids


def test_coreneuron_needs_a_gid_on_watched_voltages_not_on_artificial_cells(
    pytester: pytest.Pytester,
) -> None:
    # What docs/configs.md says: a NetStim (an artificial cell) needs no gid in CoreNEURON;
    # a NetCon watching a section's voltage does, and the run is refused, not aborted.
    pytester.makepyfile(
        test_gids="""
import pytest

from pytest_patch import current_config


def cells(p, n):
    sections = []
    for gid in range(n):
        section = p.Section(name=f"cell{gid}")
        section.L = section.diam = 10
        section.insert("hh")
        sections.append(section)
    return sections


@pytest.mark.nrn_configs(threads=(1, 2), coreneuron=(False, True))
def test_netstim_without_gid(p, spike_regression):
    [cell] = cells(p, 1)
    stimulus = p.NetStim()
    stimulus.start, stimulus.number, stimulus.interval = 1, 4, 10
    synapse = p.ExpSyn(cell(0.5))
    drive = p.NetCon(stimulus, synapse, delay=1, weight=0.05)
    p.parallel.set_gid2node(0, p.parallel.rank)
    p.parallel.cell(0, p.NetCon(cell(0.5)._ref_v, None, sec=cell))
    spikes = p.parallel.record_spikes()
    p.run(40)
    assert len(spikes.gather()) == 4
    spike_regression.check(spikes.gather(), window=1e-9)


@pytest.mark.nrn_configs(coreneuron=(False, True))
def test_voltage_source_without_gid(p, spike_regression):
    first, second = cells(p, 2)
    first.iclamp(amp=1, delay=1, duration=1)
    synapse = p.ExpSyn(second(0.5))
    link = p.NetCon(first(0.5)._ref_v, synapse, sec=first, delay=2, weight=0.05)
    counter = p.APCount(second(0.5))
    if current_config().coreneuron:
        with pytest.raises(Exception, match="with voltage source has no gid"):
            p.run(20)
    else:
        p.run(20)
        assert counter.n == 1
    spike_regression.check([], window=1e-9)
"""
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=4, failed=2)
    pytester.runpytest_subprocess().assert_outcomes(passed=6)
