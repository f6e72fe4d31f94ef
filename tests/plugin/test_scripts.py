"""``nrn_scripts``: a model's own scripts as tests, with no test code.

Real pytest runs in subprocesses, real NEURON under a real virtual display (Xvfb), real
nrnivmodl: the models are the examples' (examples/modeldb_*), written in the style of
published ModelDB models, and small hoc and Python scripts written here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Slow (model scripts run in their own processes): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NEEDS_XVFB = pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)"
)


def run(pytester: pytest.Pytester, *args: str, timeout: float = 300) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)


@pytest.fixture(scope="module")
def dendrite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dendrite example without its goldens, its mechanisms compiled once."""
    root = tmp_path_factory.mktemp("dendrite")
    shutil.copytree(
        EXAMPLES / "modeldb_dendrite",
        root,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("mosinit", ".nrn-mod-cache", ".patch-artifacts"),
    )
    subprocess.run(
        [sys.executable, "-c", "import patch; patch.load_mechanisms('.', cache='.nrn-mod-cache')"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return root


@pytest.fixture
def dendrite_repo(pytester: pytest.Pytester, dendrite: Path) -> pytest.Pytester:
    shutil.copytree(dendrite, pytester.path, dirs_exist_ok=True)
    return pytester


@NEEDS_XVFB
def test_goldens_written_then_passing_a_2_percent_mod_change_fails_and_regen_recovers(
    dendrite_repo: pytest.Pytester,
) -> None:
    first = run(dendrite_repo)
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(
        [
            "nrn scripts: hoc Graphs read on DISPLAY=:* (a virtual display (Xvfb) started for this session)",
            "*had no golden files, so they were written:",
            "*mosinit/restart_fig2a_run_summary.graphs.traces.npz",
            "*mosinit/restart_fig2a_run_summary.vectors.traces.npz",
            "*mosinit/restart_fig2a_run_summary.spikes.spikes.json",
            "*mosinit/restart_fig2a_run_summary.output.json",
        ]
    )
    output = (dendrite_repo.path / "mosinit/restart_fig2a_run_summary.output.json").read_text()
    assert '"spikes at the soma: #": [3]' in output
    run(dendrite_repo).assert_outcomes(passed=1)

    mod = dendrite_repo.path / "kadist.mod"
    mod.write_text(mod.read_text().replace("vhalfl = -56 (mV)", "vhalfl = -57.12 (mV)"))
    changed = run(dendrite_repo)
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(
        [
            "*graphs.traces.npz:",
            "'Graph[0]: dend[1].v(0.5)':",
            "*points differ; the first at t = * ms: expected *, got *",
            "*largest absolute error * at t = * ms*",
            "plot: .patch-artifacts/mosinit/restart_fig2a_run_summary.graphs.traces.png",
            "*vectors.traces.npz:",
            "'vdend':",
            "*output.json:",
            "output line 3: number 1 is -25.3*, golden -25.4457*",
            "    golden:  peak dendritic voltage: -25.4457 mV at 8.3 ms",
        ]
    )
    picture = (
        dendrite_repo.path / ".patch-artifacts/mosinit/restart_fig2a_run_summary.graphs.traces.png"
    )
    assert picture.read_bytes()[:4] == b"\x89PNG"

    regen = run(dendrite_repo, "--nrn-regen")
    regen.assert_outcomes(passed=1)
    regen.stdout.fnmatch_lines(
        ["*golden files written*", "mosinit/restart_fig2a_run_summary.graphs.traces.npz  (*"]
    )
    run(dendrite_repo).assert_outcomes(passed=1)


@NEEDS_XVFB
def test_committed_goldens_of_the_examples_pass(pytester: pytest.Pytester) -> None:
    for name in ("modeldb_ring", "modeldb_python"):
        folder = pytester.path / name
        shutil.copytree(EXAMPLES / name, folder, ignore=shutil.ignore_patterns(".*"))
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--rootdir={folder}",
            "-c",
            str(folder / "pytest.ini"),
            str(folder),
            timeout=600,
        )
        result.assert_outcomes(passed=1)


def test_item_ids_are_safe_in_a_shell(pytester: pytest.Pytester) -> None:
    pytester.makefile(".hoc", model="proc restart() { }\n")
    pytester.makefile(".py", run="x = 1\n")
    pytester.makeini(
        "[pytest]\nnrn_scripts = model.hoc\n"
        '    model.hoc :: restart("fig 5a"); run()\n'
        '    model.hoc :: restart("fig 5a"); run()\n'
        "    run.py :: x = 2; print(x * 3)\n"
    )
    result = run(pytester, "--co", "-q")
    result.stdout.fnmatch_lines(
        [
            "model.hoc::load",
            "model.hoc::restart_fig_5a_run",
            "model.hoc::restart_fig_5a_run_2",
            "run.py::x_2_print_x_3",
        ]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (":: run()", "*names no script*PATH :: STATEMENTS*"),
        ("missing.hoc :: run()", "*the script */missing.hoc does not exist*"),
        ("notes.txt", "*notes.txt is neither a hoc (.hoc, .ses) nor a Python (.py) script*"),
        ('model.hoc :: restart("fig5a); run()', '*the statements have an unclosed "*'),
        ("model.hoc :: run(", "*the statements have unbalanced brackets*"),
        ("model.hoc ::", "*has `::` but no statements after it*"),
    ],
)
def test_a_malformed_line_is_a_usage_error(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    pytester.makefile(".hoc", model="x = 1\n")
    pytester.makefile(".txt", notes="")
    pytester.makeini(f"[pytest]\nnrn_scripts = {line}\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: nrn_scripts line " + message])


GOOD = """
objref vm, g
create soma
access soma
insert hh
vm = new Vector()
vm.record(&soma.v(0.5))
g = new Graph()
g.addvar("soma.v(0.5)")
graphList[0].append(g)
tstop = 5
"""


def test_errors_and_crashes_fail_their_own_item_only(pytester: pytest.Pytester) -> None:
    pytester.makefile(".hoc", good=GOOD, broken="create soma\nsoma { L = }\n")
    pytester.makefile(
        ".py",
        raises="raise ValueError('no parameters file')\n",
        crashes="import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    )
    pytester.makeini(
        "[pytest]\nnrn_scripts = good.hoc :: run()\n"
        "    good.hoc :: run(); nosuchproc()\n"
        "    broken.hoc\n"
        "    raises.py\n"
        "    crashes.py\n"
        "    good.hoc :: run(); print 2 * t\n"
    )
    result = run(pytester)
    result.assert_outcomes(failed=6)  # the good items had no goldens yet
    result = run(pytester, "-rf")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines_random(
        [
            "*the hoc statement `nosuchproc()` failed*",
            "*hoc error while loading broken.hoc*",
            "*broken.hoc near line 2*",
            "*raises.py raised:*",
            "*ValueError: no parameters file*",
            "*nosuchproc undefined function*",
            "*the isolated process running crashes.py::load was killed by SIGSEGV*",
            '*File "crashes.py", line 2 in <module>*',
        ]
    )
    result.stdout.no_fnmatch_line("FAILED good.hoc::run - *")
    result.stdout.no_fnmatch_line("FAILED good.hoc::run_print_2_t - *")
    printed = (pytester.path / "good" / "run_print_2_t.output.json").read_text()
    assert '"#": [10]' in printed


def test_without_a_display_graphs_are_skipped_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no Xvfb to be found
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("PYTEST_PATCH_XVFB", raising=False)
    pytester.makefile(".hoc", good=GOOD)
    pytester.makeini("[pytest]\nnrn_scripts = good.hoc :: run()\n")
    run(pytester).assert_outcomes(failed=1)
    result = run(pytester)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "nrn scripts: no display (Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)); "
            "hoc Graphs are not captured",
            "*ScriptsWarning: 1 hoc Graphs not read: NEURON has no display*",
        ]
    )
    assert sorted(p.name for p in (pytester.path / "good").iterdir()) == [
        "run.output.json",
        "run.vectors.traces.npz",
    ]


@NEEDS_XVFB
def test_script_items_run_under_xdist_on_the_session_display(pytester: pytest.Pytester) -> None:
    pytester.makefile(".hoc", good=GOOD)
    pytester.makeini(
        "[pytest]\nnrn_scripts = good.hoc :: run()\n    good.hoc :: tstop = 8; run()\n"
        "    good.hoc :: tstop = 3; run()\n"
    )
    run(pytester, "-n", "2").assert_outcomes(failed=3)
    graphs = sorted(p.name for p in (pytester.path / "good").glob("*.graphs.traces.npz"))
    assert graphs == [
        "run.graphs.traces.npz",
        "tstop_3_run.graphs.traces.npz",
        "tstop_8_run.graphs.traces.npz",
    ]
    run(pytester, "-n", "2").assert_outcomes(passed=3)
    assert "PYTEST_PATCH_XVFB" not in os.environ


PRINTS = """
import os
import time
from neuron import h
shift = float(os.environ.get("SHIFT", "0"))
print(f"resting potential {-65.0 + shift:.6f} mV after {h.t:g} ms")
print(f"finished at {time.strftime('%H:%M:%S')} on run {os.getpid()}")
"""


def test_printed_numbers_are_compared_within_tolerance_and_curated_lines_ignored(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".py", prints=PRINTS)
    pytester.makeini("[pytest]\nnrn_scripts = prints.py\nnrn_scripts_ignore = ^finished at\n")
    run(pytester).assert_outcomes(failed=1)
    golden = (pytester.path / "prints" / "load.output.json").read_text()
    assert '"resting potential # mV after # ms": [-65, 0]' in golden
    assert "finished" not in golden  # the curated line, different at every run
    monkeypatch.setenv("SHIFT", "1e-9")
    run(pytester).assert_outcomes(passed=1)
    monkeypatch.setenv("SHIFT", "0.01")
    shifted = run(pytester)
    shifted.assert_outcomes(failed=1)
    shifted.stdout.fnmatch_lines(
        [
            "*printed output of load differ from the golden prints/load.output.json:",
            "output line 1: number 1 is -64.99, golden -65 (abs error 0.01, rel 0.000154; passes with atol=0.01*",
            "    golden:  resting potential -65 mV after 0 ms",
            "    printed: resting potential -64.99 mV after 0 ms",
        ]
    )
    run(pytester, "-o", "nrn_scripts_atol=0.02").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nnrn_scripts = prints.py\n")  # the clock line counts now
    run(pytester, "-o", "nrn_scripts_atol=0.02").stdout.fnmatch_lines(
        ["printed but not in the golden: finished at *"]
    )


def test_golden_variants_for_the_build(pytester: pytest.Pytester) -> None:
    pytester.makefile(".hoc", good=GOOD)
    pytester.makeini("[pytest]\nnrn_scripts = good.hoc :: run()\n")
    run(pytester).assert_outcomes(failed=1)
    run(pytester, "--nrn-regen", "--nrn-variant").assert_outcomes(passed=1)
    written = sorted(p.name for p in (pytester.path / "good").iterdir())
    variants = [name for name in written if "@neuron-" in name]
    assert len(variants) == 3, written  # graphs, vectors, output of this build
    (pytester.path / "good" / "run.output.json").write_text("not a golden")
    run(pytester).assert_outcomes(passed=1)  # the build's variant is used, not the base


@NEEDS_XVFB
def test_a_changed_synapse_shifts_spikes_named_by_their_variables(
    pytester: pytest.Pytester,
) -> None:
    shutil.copytree(
        EXAMPLES / "modeldb_ring",
        pytester.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".*"),
    )
    mod = pytester.path / "alphasyn.mod"
    mod.write_text(mod.read_text().replace("tau1 = 0.5 (ms)", "tau1 = 0.51 (ms)"))
    result = run(pytester, timeout=600)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*spikes of restart_fig3_run_report differ from the golden "
            "mosinit/restart_fig3_run_report.spikes.spikes.json:",
            "5 of 5 gids differ*",
            "the rasters diverge at t = * ms (gid * (cells.o(*).spiketimes))",
            "  gid 0 (cells.o(0).spiketimes): shifted *",
            "plot: .patch-artifacts/mosinit/restart_fig3_run_report.spikes.spikes.png",
        ]
    )


def test_unused_goldens_of_script_items_are_reported(pytester: pytest.Pytester) -> None:
    pytester.makefile(".py", prints="print('resting potential -65 mV')\n")
    pytester.makeini("[pytest]\nnrn_scripts = prints.py\n")
    run(pytester).assert_outcomes(failed=1)
    stale = pytester.path / "prints" / "load.spikes.spikes.json"  # of an earlier version
    stale.write_text("{}")
    gone = pytester.path / "prints" / "fig9.output.json"  # of a line no longer there
    gone.write_text("{}")
    result = run(pytester, "--nrn-unused=report")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*unused golden files*", "prints/fig9.output.json", "prints/load.spikes.spikes.json"]
    )
    result.stdout.no_fnmatch_line("prints/load.output.json")


def test_a_direct_mpiexec_session_skips_script_items_naming_the_serial_command(
    pytester: pytest.Pytester,
) -> None:
    shutil.copytree(
        EXAMPLES / "modeldb_ring",
        pytester.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".*"),
    )
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
    result = subprocess.run(
        [
            mpiexec,
            "-n",
            "2",
            sys.executable,
            "-m",
            "pytest",
            "--with-mpi",
            "-p",
            "no:cacheprovider",
            "-rs",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert (
        "run them with a serial `python -m pytest mosinit.hoc::restart_fig3_run_report`"
        in result.stdout
    )
