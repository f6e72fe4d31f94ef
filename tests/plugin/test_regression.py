"""Golden traces, spikes and features: what a model repository's CI sees, in real pytest runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pytest
import session_zygote

import pytest_patch
from pytest_patch.regression import golden

# Slow (many pytest sessions, some in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _simulator_at_baseline(nrn_simulator: pytest_patch.Simulator) -> None:
    """Most runs here are in-process (a subprocess would prove nothing more). Each starts
    from the simulator's baseline, as a test with ``p`` does, whatever the tests before
    it left; and NEURON is started before pytester's snapshot of the imported modules,
    as it cannot be imported twice."""
    nrn_simulator.reset()


MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"

# A Hodgkin-Huxley soma under a current step whose amplitude the environment sets, so a
# second run can change the model's output without changing the test.
MODEL = """
import os

import pytest


@pytest.fixture
def soma_run(p, section, iclamp, recording):
    section.L = section.diam = 12.6
    section.insert("hh")
    section.gnabar_hh = float(os.environ.get("GNA", "0.12"))
    if os.environ.get("FIXDT"):  # a model that sets its own time step
        p.dt, p.steps_per_ms = 0.025, 40
    iclamp(section, amp=float(os.environ.get("AMP", "0.2")), delay=5, duration=40)
    spikes = p.Vector()
    detector = p.NetCon(section(0.5)._ref_v, None, sec=section)
    detector.record(spikes)
    v, m = recording(section), recording(section(0.5)._ref_m_hh)
    if os.environ.get("CVODE"):
        p.cvode.active(1)
        p.cvode.atol(1e-6)
    p.run(float(os.environ.get("TSTOP", "50")))
    yield {"soma": v, "m": m, "spikes": spikes.as_numpy().copy()}
"""

TESTS = """
def test_trace(soma_run, trace_regression):
    trace_regression.check({"soma": soma_run["soma"], "m": soma_run["m"]})


def test_spikes(soma_run, spike_regression):
    spike_regression.check(soma_run["spikes"])


def test_features(soma_run, feature_regression):
    feature_regression.check(soma_run["soma"], stimulus=(5, 45))
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(MODEL)
    pytester.makepyfile(test_cell=TESTS)
    return pytester


def goldens(pytester: pytest.Pytester) -> dict[str, bytes]:
    folder = pytester.path / "test_cell"
    return (
        {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
        if folder.exists()
        else {}
    )


@pytest.fixture(scope="module")
def cell_goldens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The goldens of the suite, made once for the tests that start from them."""
    root = tmp_path_factory.mktemp("goldens")
    (root / "conftest.py").write_text(MODEL)
    (root / "test_cell.py").write_text(TESTS)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    made = session_zygote.run(command, cwd=root, timeout=120)
    assert "3 failed" in made.stdout, made.stdout
    return root / "test_cell"


def first_run(suite: pytest.Pytester, goldens_: Path) -> None:
    """The suite with its goldens written, as after its first run."""
    shutil.copytree(goldens_, suite.path / "test_cell")


def test_a_missing_golden_is_written_and_fails_once(suite: pytest.Pytester) -> None:
    result = suite.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "test_trace had no golden files, so they were written:",
            "  test_cell/test_trace.traces.npz",
            "Review them and commit them; the next run compares with them.",
            "*golden files written*",
            "test_cell/test_features.features.json  (test_cell.py::test_features)",
        ]
    )
    assert sorted(goldens(suite)) == [
        "test_features.features.json",
        "test_spikes.spikes.json",
        "test_trace.traces.npz",
    ]
    spikes = json.loads((suite.path / "test_cell" / "test_spikes.spikes.json").read_text())
    assert spikes["kind"] == "spikes" and spikes["format"] == 1
    assert set(spikes["made_by"]) == {"neuron", "patch", "config"}
    assert spikes["made_by"]["config"] == {"ranks": 1, "threads": 1, "cvode": False, "dt": 0.025}
    assert len(spikes["spikes"]["0"]) == 5
    # Readable in a pull request: one line per gid, not one per number.
    text = (suite.path / "test_cell" / "test_spikes.spikes.json").read_text()
    assert len(text.splitlines()) == 10
    stored = golden.read(suite.path / "test_cell" / "test_trace.traces.npz", "traces")
    time, values = stored.data["soma"]
    assert time.shape == values.shape == (2001,) and time[-1] == pytest.approx(50)
    # Lossless and compact: both traces with their time axes in less than their raw values.
    assert (suite.path / "test_cell" / "test_trace.traces.npz").stat().st_size < 2 * 2001 * 8
    before = goldens(suite)
    suite.runpytest().assert_outcomes(passed=3)
    assert goldens(suite) == before


def test_a_changed_trace_says_where_and_by_how_much(
    suite: pytest.Pytester, cell_goldens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_run(suite, cell_goldens)
    before = goldens(suite)
    monkeypatch.setenv("AMP", "0.21")
    result = suite.runpytest("--junitxml=report.xml", "-k", "trace")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "traces of test_trace differ from the golden test_cell/test_trace.traces.npz:" in text
    assert re.search(
        r"'soma':\n.*1800 of 2001 points differ; the first at t = 5\.025 ms: "
        r"expected -63\.96\d+, got -63\.91\d+",
        text,
    )
    assert re.search(
        r"largest absolute error 47\.\d at t = 43\.35 ms; largest relative error", text
    )
    assert re.search(r"would pass with atol=47\.\d \(at rtol=1e-06\) or rtol=", text)
    # What a modeller needs: the spikes moved, and where the difference became large.
    assert re.search(
        r"the difference first exceeds 10% of the golden's range \(118\) at t = 15\.6\d* ms: "
        r"expected -32\.2\d*, got -19\.6\d*",
        text,
    )
    assert re.search(
        r"spikes \(upward crossings of 0 mV\): 5 of 5 shifted by more than 0\.001 ms, "
        r"largest -0\.5\d+ ms at 43\.\d+ ms \(golden: 5 spikes, run: 5\)",
        text,
    )
    assert (
        "spikes (upward" not in text.split("'m':")[1].split("'soma':")[0]
    )  # a gating variable has no spikes
    assert (
        "If the change is intended: pytest --nrn-regen rewrites test_cell/test_trace.traces.npz"
        in text
    )
    assert "pytest_patch" not in text.split("FAILURES")[1]  # no traceback from inside the plugin
    # The picture is written, named in the failure and attached to the junit report.
    png = suite.path / ".patch-artifacts" / "test_cell" / "test_trace.traces.png"
    assert "plot: .patch-artifacts/test_cell/test_trace.traces.png" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    properties = {
        prop.get("name"): prop.get("value")
        for prop in ElementTree.parse(suite.path / "report.xml").iter("property")
    }
    assert properties["nrn_artifact"] == ".patch-artifacts/test_cell/test_trace.traces.png"
    assert properties["nrn_golden"] == "test_cell/test_trace.traces.npz"
    assert goldens(suite) == before  # never overwritten without --nrn-regen


def test_tolerances_per_name_and_artifacts_folder(
    suite: pytest.Pytester, cell_goldens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_run(suite, cell_goldens)
    monkeypatch.setenv("AMP", "0.2001")
    suite.makepyfile(
        test_cell="""
def test_trace(soma_run, trace_regression):
    trace_regression.check({"soma": soma_run["soma"], "m": soma_run["m"]},
                           tolerances={"soma": {"atol": 1.0}, "m": {"atol": 0.01}})
"""
    )
    suite.runpytest().assert_outcomes(passed=1)
    suite.makepyfile(
        test_cell="""
def test_trace(soma_run, trace_regression):
    trace_regression.check({"soma": soma_run["soma"], "m": soma_run["m"]},
                           tolerances={"soma": {"atol": 1.0}})
"""
    )
    result = suite.runpytest("--nrn-artifacts", "plots")
    result.assert_outcomes(failed=1)
    assert "\n'm':" in result.stdout.str() and "'soma':" not in result.stdout.str()
    assert (suite.path / "plots" / "test_cell" / "test_trace.traces.png").exists()


def test_regen_rewrites_failing_goldens_and_passes_with_a_warning(
    suite: pytest.Pytester, cell_goldens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_run(suite, cell_goldens)
    before = goldens(suite)
    monkeypatch.setenv("AMP", "0.21")
    result = suite.runpytest("--nrn-regen", "-k", "spikes or trace")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*GoldenWrittenWarning: spikes of test_spikes changed: rewrote test_cell/test_spikes.spikes.json (--nrn-regen)",
            "*golden files written*",
            "test_cell/test_trace.traces.npz  (test_cell.py::test_trace)",
            "test_cell/test_spikes.spikes.json  (test_cell.py::test_spikes)",
            "--nrn-regen with -k/-m/--lf: 1 deselected tests were not run, so their goldens were neither checked nor rewritten",
        ]
    )
    after = goldens(suite)
    assert after["test_features.features.json"] == before["test_features.features.json"]
    assert after["test_spikes.spikes.json"] != before["test_spikes.spikes.json"]
    suite.runpytest("-k", "spikes or trace").assert_outcomes(passed=2, deselected=1)


def test_a_run_on_another_time_base_is_aligned(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(
        test_cell="""
def test_trace(soma_run, trace_regression):
    trace_regression.check({"soma": soma_run["soma"]}, atol=2.0)
"""
    )
    monkeypatch.setenv("AMP", "0.005")  # below threshold: a smooth trace
    suite.runpytest()
    suite.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("CVODE", "1")  # other time points, a few hundred instead of 2001
    suite.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("TSTOP", "30")
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    assert "the run covers 0 to 30 ms, the golden 0 to 50 ms" in result.stdout.str()


def test_names_that_differ_between_golden_and_run(
    suite: pytest.Pytester, cell_goldens: Path
) -> None:
    first_run(suite, cell_goldens)
    suite.makepyfile(
        test_cell="""
def test_trace(soma_run, trace_regression):
    trace_regression.check({"soma": soma_run["soma"], "axon": soma_run["m"]})
"""
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*traces in the golden but not in this run: m",
            "*traces in this run but not in the golden: axon",
        ]
    )


SPIKES = """
import numpy as np
from patch import SPIKE_DTYPE


def raster(pairs):
    spikes = np.zeros(len(pairs), dtype=SPIKE_DTYPE)
    spikes["gid"], spikes["time"] = zip(*pairs)
    return spikes


def test_raster(spike_regression):
    import os
    pairs = [(0, 1.0), (0, 11.0), (1, 3.0), (1, 13.0), (2, 5.0), (7, 2.5)]
    change = os.environ.get("CHANGE")
    if change == "shift":
        pairs[3] = (1, 13.4)
    elif change == "drop":
        pairs = [pair for pair in pairs if pair != (2, 5.0)] + [(2, 20.0), (9, 1.0)]
    spike_regression.check(raster(pairs), window=float(os.environ.get("WINDOW", "0.001")))


def test_mapping(spike_regression):
    spike_regression.check({3: [1.0, 2.0], 4: np.array([0.5])}, name="by_gid")
"""


def test_spikes_are_matched_gid_by_gid(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_net=SPIKES)
    pytester.runpytest().assert_outcomes(failed=2)
    assert sorted(p.name for p in (pytester.path / "test_net").iterdir()) == [
        "test_mapping.by_gid.spikes.json",
        "test_raster.spikes.json",
    ]
    pytester.runpytest().assert_outcomes(passed=2)
    monkeypatch.setenv("CHANGE", "shift")
    result = pytester.runpytest("-k", "raster")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*1 of 4 gids differ (golden: 6 spikes of 4 gids; run: 6 spikes of 4 gids; window 0.001 ms)",
            "*the rasters diverge at t = 13 ms (gid 1)",
            "*gid 1: shifted 13 -> 13.4 (+0.4)",
            "*would pass with window=0.401 ms",
            "*plot: .patch-artifacts/test_net/test_raster.spikes.png",
        ]
    )
    monkeypatch.setenv("WINDOW", "0.5")
    pytester.runpytest("-k", "raster").assert_outcomes(passed=1, deselected=1)
    monkeypatch.setenv("CHANGE", "drop")
    result = pytester.runpytest("-k", "raster")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*2 of 5 gids differ*",
            "*the rasters diverge at t = 1 ms (gid 9)",
            "*gid 2: shifted 5 -> 20 (+15)",
            "*gid 9: extra [[]1[]]",
            "*no window passes: gid 9 has a different number of spikes",
        ]
    )


FEATURES = """
import os

from pytest_patch import assert_features


def test_features(soma_run, feature_regression):
    feature_regression.check(soma_run["soma"], stimulus=(5, 45),
                             features=["spike_count", "AP_amplitude", "voltage_base"])


def test_validation(soma_run):
    assert_features(
        soma_run["soma"],
        {"spike_count": (5, 1), "mean_frequency": (float(os.environ.get("FREQ", "125")), 5),
         "voltage_base": (-65, 0.5)},
        stimulus=(5, 45),
    )
"""


def test_features_against_goldens_and_experimental_bands(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_cell=FEATURES)
    suite.runpytest().assert_outcomes(passed=1, failed=1)
    suite.runpytest().assert_outcomes(passed=2)
    stored = json.loads((suite.path / "test_cell" / "test_features.features.json").read_text())
    assert stored["features"]["spike_count"] == [5]
    assert len(stored["features"]["AP_amplitude"]) == 5
    monkeypatch.setenv("AMP", "0.01")  # no spikes: eFEL has no AP amplitude
    monkeypatch.setenv("FREQ", "180")
    result = suite.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*features of test_features differ from the golden test_cell/test_features.features.json:",
            "*AP_amplitude: expected [[]106.7*, got no value",
            "*spike_count: expected [[]5[]], got [[]0[]]*",
            "*2 of 3 features outside mean ± 2 sd:",
            "*FAIL spike_count *0  (expected 5 ± 1)  z = -5.00",
            "*FAIL mean_frequency  no value (eFEL found none: no spikes?)  (expected 180 ± 5)",
            "*ok   voltage_base *-64.9* (expected -65 ± 0.5)  z = +0.*",
        ]
    )


def test_features_need_efel_and_say_so(suite: pytest.Pytester) -> None:
    suite.makeconftest(MODEL + "\nimport sys\nsys.modules['efel'] = None  # as if not installed\n")
    suite.makepyfile(test_cell=TESTS)
    result = suite.runpytest("-k", "features")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            '*ImportError: feature checks compute features with eFEL, which is not installed: pip install "nrn-patch[[]features[]]" (or pip install efel)'
        ]
    )
    assert "pytest_patch" not in result.stdout.str().split("FAILURES")[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00garbage", "is not valid JSON"),
        (
            b'{"kind": "spikes", "format": 7, "spikes": {}}',
            "written by a newer pytest-patch (format 7; this one reads up to 1): upgrade nrn-patch, or rewrite it with --nrn-regen",
        ),
        (
            b'{"kind": "spikes", "format": 1, "spikes": {"0": "soon"}}',
            "the spikes of gid 0 must be a list of numbers",
        ),
        (b'{"kind": "spikes", "format": 1, "spikes": {"zero": [1]}}', "'zero' is not a gid"),
        (b'{"kind": "traces", "format": 1}', "is not a spikes golden file"),
        (
            b'{"kind": "spikes", "format": 1, "spikes": {"0": '
            + b"[" * 200_000
            + b"]" * 200_000
            + b"}}",
            "(JSON nested too deep)",
        ),
        (
            b'{"kind": "spikes", "format": 1, "spikes": {"0": [1.0, NaN]}}',
            "the spikes of gid 0 must be a list of numbers, not NaN or infinity",
        ),
    ],
)
def test_an_unusable_golden_is_named_and_never_overwritten(
    suite: pytest.Pytester, cell_goldens: Path, content: bytes, message: str
) -> None:
    first_run(suite, cell_goldens)
    golden = suite.path / "test_cell" / "test_spikes.spikes.json"
    golden.write_bytes(content)
    result = suite.runpytest("-k", "spikes")
    result.assert_outcomes(failed=1, deselected=2)
    assert "test_cell/test_spikes.spikes.json" in result.stdout.str()
    assert message in result.stdout.str()
    result.stdout.fnmatch_lines(["*Repair or delete it, or rewrite it with --nrn-regen."])
    assert golden.read_bytes() == content
    result = suite.runpytest("-k", "spikes", "--nrn-regen")
    result.assert_outcomes(passed=1, deselected=2)
    assert "rewrote test_cell/test_spikes.spikes.json, which was unusable" in result.stdout.str()
    suite.runpytest("-k", "spikes").assert_outcomes(passed=1, deselected=2)


def test_a_corrupt_trace_archive(suite: pytest.Pytester, cell_goldens: Path) -> None:
    first_run(suite, cell_goldens)
    golden = suite.path / "test_cell" / "test_trace.traces.npz"
    golden.write_bytes(golden.read_bytes()[:200])
    result = suite.runpytest("-k", "trace")
    result.assert_outcomes(failed=1, deselected=2)
    assert "test_cell/test_trace.traces.npz is not a readable traces golden" in result.stdout.str()


def npy_claiming(count: int) -> bytes:
    """The start of a .npy member whose header claims ``count`` float64 values."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({count},), }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\x00" * 64


def test_a_trace_archive_claiming_more_values_than_it_holds(
    suite: pytest.Pytester, cell_goldens: Path
) -> None:
    """A forged or damaged header is a clear failure, not a MemoryError, and --nrn-regen replaces it."""
    first_run(suite, cell_goldens)
    path = suite.path / "test_cell" / "test_trace.traces.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("soma/values.npy", npy_claiming(10**14))
    result = suite.runpytest("-k", "trace")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*test_trace.traces.npz is not a readable traces golden: soma/values.npy claims 100000000000000 values but holds * bytes"
        ]
    )
    assert "MemoryError" not in result.stdout.str()
    suite.runpytest("-k", "trace", "--nrn-regen").assert_outcomes(passed=1, deselected=2)
    suite.runpytest("-k", "trace").assert_outcomes(passed=1, deselected=2)


def test_a_golden_path_that_is_a_folder(suite: pytest.Pytester, cell_goldens: Path) -> None:
    first_run(suite, cell_goldens)
    path = suite.path / "test_cell" / "test_spikes.spikes.json"
    path.unlink()
    path.mkdir()
    result = suite.runpytest("-k", "spikes")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        ["*test_spikes.spikes.json is a folder, not a golden file: move or delete it"]
    )
    result = suite.runpytest("-k", "spikes", "--nrn-regen")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*cannot write the golden file test_cell/test_spikes.spikes.json: a folder has its name; move or delete that folder"
        ]
    )
    assert "writable" not in result.stdout.str()


def test_what_a_killed_write_left_is_removed_and_named(
    suite: pytest.Pytester, cell_goldens: Path
) -> None:
    first_run(suite, cell_goldens)
    folder = suite.path / "test_cell"
    old = folder / ".test_spikes.spikes.json.4242.tmp"
    old.write_text('{"kind": "spi')
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    in_progress = folder / ".test_spikes.spikes.json.4243.tmp"  # a write going on now
    in_progress.write_text("{")
    result = suite.runpytest("-k", "spikes", "-W", "default")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*removed what killed writes of test_cell/test_spikes.spikes.json left: test_cell/.test_spikes.spikes.json.4242.tmp"
        ]
    )
    assert not old.exists() and in_progress.exists()


BAD_CALLS = """
import math

import numpy as np
import pytest


def test_twice(trace_regression):
    trace_regression.check({"v": [1.0, 2.0]})
    trace_regression.check({"v": [1.0, 2.0]})


def test_twice_named(spike_regression):
    spike_regression.check([1.0], name="a")
    spike_regression.check([1.0], name="a")


def test_nan(trace_regression):
    trace_regression.check({"v": ([0.0, 0.1, 0.2], [1.0, math.nan, 2.0])})


def test_empty(p, section, trace_regression):
    trace_regression.check({"v": p.Vector()})


def test_negative_spike(spike_regression):
    spike_regression.check({5: [-1.0, 2.0]})


def test_not_a_mapping(trace_regression):
    trace_regression.check([1.0, 2.0])


def test_bad_tolerance(trace_regression):
    trace_regression.check({"v": [1.0]}, tolerances={"v": {"atoll": 1}})


def test_float_gid(spike_regression):
    spike_regression.check({1.5: [1.0]})
"""


def test_bad_input_gets_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad=BAD_CALLS)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=8)
    text = result.stdout.str()
    for expected in [
        "ValueError: trace_regression.check called twice in test_twice with no name: give each check of a test its own name=...",
        "ValueError: spike_regression.check called twice in test_twice_named with name='a'",
        "ValueError: trace 'v' has 1 NaN or infinite values, the first at t = 0.1 ms",
        "ValueError: trace 'v' has no points: record it before the run, and run the simulation before the check",
        "ValueError: gid 5 has a spike at t = -1.0 ms: spike times must be finite and not negative",
        "TypeError: trace_regression.check takes a mapping of names to traces, e.g. {'soma': recording}, not list",
        "ValueError: tolerances['v'] must be a mapping with keys from ('rtol', 'atol'), not {'atoll': 1}",
        "TypeError: spike trains are keyed by gid (a whole number), not 1.5",
    ]:
        assert f"E       {expected}" in text
    assert "pytest_patch/regression" not in result.stdout.str()
    assert (
        not (pytester.path / "test_bad").exists()
        or len(list((pytester.path / "test_bad").iterdir())) <= 2
    )


@pytest.mark.parametrize("value", ["-1", "0", "nan", "soon"])
def test_a_calibration_timeout_that_is_not_a_number_of_seconds_is_refused(
    pytester: pytest.Pytester, value: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--nrn-calibrate", f"--nrn-calibrate-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --nrn-calibrate-timeout='{value}': give a positive number of seconds*"]
    )


def test_an_unwritable_golden_folder(suite: pytest.Pytester) -> None:
    (suite.path / "test_cell").write_text("a file where the golden folder should be")
    result = suite.runpytest("-k", "spikes")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*ValueError: cannot write the golden file test_cell/test_spikes.spikes.json: *; make its folder writable"
        ]
    )


def test_unused_goldens_are_found_in_a_complete_run(
    suite: pytest.Pytester, cell_goldens: Path
) -> None:
    first_run(suite, cell_goldens)
    folder = suite.path / "test_cell"
    (folder / "test_removed.spikes.json").write_text("{}")
    (folder / "test_trace.old_name.traces.npz").write_bytes(b"")
    (folder / "notes.txt").write_text("not a golden")
    result = suite.runpytest("--nrn-unused=report")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*unused golden files*",
            "test_cell/test_removed.spikes.json",
            "test_cell/test_trace.old_name.traces.npz",
            "--nrn-unused=delete deletes them",
        ]
    )
    result = suite.runpytest("--nrn-unused=delete", "-k", "trace")
    result.stdout.fnmatch_lines(
        ["--nrn-unused: not checked, as the run was not complete: 2 tests were deselected*"]
    )
    assert (folder / "test_removed.spikes.json").exists()
    result = suite.runpytest("--nrn-unused=delete")
    result.stdout.fnmatch_lines(
        [
            "deleted test_cell/test_removed.spikes.json",
            "deleted test_cell/test_trace.old_name.traces.npz",
        ]
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "notes.txt",
        "test_features.features.json",
        "test_spikes.spikes.json",
        "test_trace.traces.npz",
    ]


def test_regen_with_exitfirst_says_what_was_not_rewritten(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_cell=TESTS + "\n\ndef test_broken():\n    assert False\n")
    first = suite.runpytest("-p", "no:randomly")
    first.assert_outcomes(failed=4)
    monkeypatch.setenv("AMP", "0.21")
    suite.makepyfile(test_cell="def test_broken():\n    assert False\n" + TESTS)
    result = suite.runpytest("--nrn-regen", "-x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*--nrn-regen with -x/--maxfail: the run stopped early, so the goldens of the tests after the stop were not rewritten"
        ]
    )


def test_variants_are_written_for_a_build_and_preferred(
    suite: pytest.Pytester, cell_goldens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import version

    first_run(suite, cell_goldens)
    variant = "neuron-" + ".".join(version("neuron").split(".")[:2])
    monkeypatch.setenv("AMP", "0.21")
    result = suite.runpytest("--nrn-regen", "--nrn-variant", "-k", "spikes")
    result.assert_outcomes(passed=1, deselected=2)
    folder = suite.path / "test_cell"
    assert (folder / f"test_spikes.spikes@{variant}.json").exists()
    suite.runpytest("-k", "spikes").assert_outcomes(passed=1, deselected=2)
    monkeypatch.delenv("AMP")
    result = suite.runpytest("-k", "spikes")
    result.assert_outcomes(failed=1, deselected=2)
    assert f"test_cell/test_spikes.spikes@{variant}.json" in result.stdout.str()
    result = suite.runpytest("--nrn-variant=coreneuron")
    assert "--nrn-variant names the variant --nrn-regen writes" in result.stderr.str()


def test_calibration_stores_the_spread_it_measured(
    suite: pytest.Pytester, cell_goldens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_run(suite, cell_goldens)
    result = suite.runpytest("--nrn-calibrate", "-k", "spikes or features")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*calibrated tolerances*",
            "test_cell.py::test_spikes:",
            "  test_cell/test_spikes.spikes.json spikes: window=* stored (dt/2: window=*, cvode atol=1e-06: window=*, threads=2: window=0; x2)",
        ]
    )
    stored = json.loads((suite.path / "test_cell" / "test_spikes.spikes.json").read_text())
    window = stored["tolerances"]["spikes"]["window"]
    assert 0.05 < window < 5
    features = json.loads((suite.path / "test_cell" / "test_features.features.json").read_text())
    assert "spike_count" not in features["tolerances"]  # no perturbation changed it
    result.stdout.fnmatch_lines(
        ["*test_features.features.json spike_count: no perturbation changed it: nothing stored"]
    )
    # A change within the calibrated spread now passes; one beyond it still fails.
    monkeypatch.setenv("AMP", "0.2002")
    suite.runpytest("-k", "spikes").assert_outcomes(passed=1, deselected=2)
    monkeypatch.setenv("AMP", "0.25")
    suite.runpytest("-k", "spikes").assert_outcomes(failed=1, deselected=2)


RING = '''
import pytest

from ring_model import ring


@pytest.mark.mpi
def test_ring(p, recording, trace_regression, spike_regression):
    """Six cells in a ring over the ranks (data/ring_model.py)."""
    cells, model = ring(p)
    traces = {f"cell{gid}": recording(soma) for gid, (soma, _) in cells.items()}
    spikes = p.parallel.record_spikes()
    p.run(40)
    trace_regression.check(traces)
    spike_regression.check(spikes.gather())


@pytest.mark.mpi(min_size=2)
def test_only_rank_0_checks(p, section, recording, trace_regression):
    v = recording(section)
    p.run(5)
    if p.parallel.rank == 0:
        trace_regression.check({"v": v})
'''


def mpiexec(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        MPIEXEC,
        "-n",
        "2",
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--with-mpi",
        *args,
    ]
    return subprocess.run(
        command, cwd=path, capture_output=True, text=True, timeout=180, check=False
    )


def test_goldens_do_not_depend_on_the_number_of_ranks(pytester: pytest.Pytester) -> None:
    shutil.copy(Path(__file__).parent / "data" / "ring_model.py", pytester.path)
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.makepyfile(test_ring=RING)
    # In subprocesses: this session may have imported a test_ring module of its own.
    pytester.runpytest_subprocess("-k", "not only").assert_outcomes(failed=1, deselected=1)
    pytester.runpytest_subprocess("-k", "not only").assert_outcomes(passed=1, deselected=1)
    spikes = json.loads((pytester.path / "test_ring" / "test_ring.spikes.json").read_text())
    assert sorted(spikes["spikes"]) == [str(gid) for gid in range(6)]
    before = {p.name: p.read_bytes() for p in (pytester.path / "test_ring").iterdir()}
    run = mpiexec(pytester.path, "-k", "not only")
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert {p.name: p.read_bytes() for p in (pytester.path / "test_ring").iterdir()} == before
    # A check made on one rank only is reported within seconds, naming where rank 0 waits.
    run = mpiexec(pytester.path, "-k", "only_rank_0", "--mpi-timeout=60")
    assert "MPI deadlock in test_ring.py::test_only_rank_0_checks (call)" in run.stdout, run.stdout
    assert "in check" in run.stdout and 'test_ring.py", line' in run.stdout


def test_the_regression_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "trace_regression*",
            "*Compare traces with this test's golden traces*",
            "spike_regression*",
            "feature_regression*",
        ]
    )
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--nrn-regen*",
            "*--nrn-unused*",
            "*--nrn-variant*",
            "*--nrn-artifacts*",
            "*--nrn-calibrate*",
        ]
    )


def test_under_xdist_the_controller_lists_what_workers_wrote(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-n", "2")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "test_cell/test_trace.traces.npz  (test_cell.py::test_trace)",
            "test_cell/test_spikes.spikes.json  (test_cell.py::test_spikes)",
            "test_cell/test_features.features.json  (test_cell.py::test_features)",
        ]
    )
    suite.runpytest("-n", "2").assert_outcomes(passed=3)


ALL_CHECKS = """
import os


def test_all(soma_run, trace_regression, spike_regression, feature_regression):
    trace_regression.check({"soma": soma_run["soma"]})
    spike_regression.check(soma_run["spikes"])
    feature_regression.check(soma_run["soma"], stimulus=(5, 45), features=["spike_count", "AP_amplitude"])
    if os.environ.get("OWN"):
        assert len(soma_run["spikes"]) == 4, "the model's own assertion"
"""


def test_every_check_of_a_test_runs_and_the_test_fails_once_with_each_report(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_cell=ALL_CHECKS)
    suite.runpytest().assert_outcomes(failed=1)
    assert sorted(goldens(suite)) == [
        "test_all.features.json",
        "test_all.spikes.json",
        "test_all.traces.npz",
    ]
    monkeypatch.setenv("AMP", "0.21")  # every check fails
    result = suite.runpytest("--junitxml=report.xml")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "3 of 3 regression checks of test_all failed:" in text
    for what, file in [
        ("traces", "test_all.traces.npz"),
        ("spikes", "test_all.spikes.json"),
        ("features", "test_all.features.json"),
    ]:
        assert f"{what} of test_all differ from the golden test_cell/{file}:" in text
    assert "'soma':" in text and "gids differ" in text and "AP_amplitude: expected [106.7" in text
    assert "(checked at test_cell.py:5)" in text and "(checked at test_cell.py:7)" in text
    # One failure, not three (the short summary repeats it whole under CI=true).
    assert (
        text[: text.index("short test summary info")].count("regression checks of test_all failed:")
        == 1
    )
    properties = [
        prop.get("value")
        for prop in ElementTree.parse(suite.path / "report.xml").iter("property")
        if prop.get("name") == "nrn_golden"
    ]
    assert sorted(properties) == [
        "test_cell/test_all.features.json",
        "test_cell/test_all.spikes.json",
        "test_cell/test_all.traces.npz",
    ]
    # The test's own assertion after failed checks: both are reported.
    monkeypatch.setenv("OWN", "1")
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "AssertionError: the model's own assertion" in text
    assert "3 of 3 regression checks of test_all failed:" in text and "gids differ" in text


MPI_CHECKS = """
import os

import pytest


@pytest.mark.mpi(min_size=2)
def test_both(p, section, iclamp, recording, trace_regression, spike_regression):
    section.L = section.diam = 12.6
    section.insert("hh")
    rank = p.parallel.rank
    iclamp(section, amp=float(os.environ.get("AMP", "0.2")) + 0.01 * rank, delay=5, duration=40)
    v = recording(section)
    p.parallel.set_gid2node(rank, rank)
    detector = p.NetCon(section(0.5)._ref_v, None, sec=section)
    p.parallel.cell(rank, detector)
    spikes = p.parallel.record_spikes()
    p.run(50)
    trace_regression.check({f"v{rank}": v})
    spike_regression.check(spikes.gather())
"""


def test_under_mpi_every_check_runs_and_every_rank_fails_the_same(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_net=MPI_CHECKS)
    first = mpiexec(pytester.path)
    assert "1 failed" in first.stdout and "had no golden files" in first.stdout, (
        first.stdout + first.stderr
    )
    assert sorted(p.name for p in (pytester.path / "test_net").iterdir()) == [
        "test_both.spikes.json",
        "test_both.traces.npz",
    ]
    assert sorted(
        json.loads((pytester.path / "test_net" / "test_both.spikes.json").read_text())["spikes"]
    ) == ["0", "1"]
    assert "1 passed" in mpiexec(pytester.path).stdout
    monkeypatch.setenv("AMP", "0.25")
    run = mpiexec(pytester.path, "-rf")
    assert "1 failed" in run.stdout and "MPI deadlock" not in run.stdout, run.stdout + run.stderr
    assert "2 of 2 regression checks of test_both failed:" in run.stdout, run.stdout
    assert "traces of test_both differ" in run.stdout and "spikes of test_both differ" in run.stdout


def test_calibration_never_makes_a_broken_model_pass(
    suite: pytest.Pytester, cell_goldens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_run(suite, cell_goldens)
    monkeypatch.setenv("FIXDT", "1")  # dt/2 then changes nothing
    result = suite.runpytest("--nrn-calibrate", "-k", "trace")
    result.assert_outcomes(passed=1, deselected=2)
    text = result.stdout.str()
    # CVode and dt/2 shift the spikes: no voltage atol is stored for the spiking trace, nor
    # one comparable to the range of the gating variable.
    assert re.search(
        r"test_cell/test_trace.traces.npz soma: spikes shifted by up to \d\.\d+ ms under cvode atol=1e-06: "
        r"not stored, as a voltage atol that covers it \(atol=\d+\.?\d* mV\) would let shifted spikes pass",
        text,
    ), text
    assert "compare its spike times with spike_regression (window=" in text
    assert re.search(
        r"test_cell/test_trace.traces.npz m: atol=0\.\d+ not stored: comparable to the trace's range \(0\.98\d*;",
        text,
    ), text
    assert (
        "soma: dt/2, threads=2 changed nothing (not counted; where it should have, the model sets it itself)"
        in text
    )
    assert (
        golden.read(suite.path / "test_cell" / "test_trace.traces.npz", "traces").tolerances == {}
    )
    # Half the sodium still fails.
    monkeypatch.setenv("GNA", "0.06")
    suite.runpytest("-k", "trace").assert_outcomes(failed=1, deselected=2)


FORKING = """
import os


def test_forks(soma_run, spike_regression):
    pid = os.fork()  # a model that runs a worker in a forked child
    if pid == 0:
        try:
            soma_run["run"]()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    spike_regression.check(soma_run["spikes"])
"""


def test_a_perturbation_that_hangs_is_stopped_and_skipped(suite: pytest.Pytester) -> None:
    suite.makeconftest(MODEL.replace('yield {"soma"', 'yield {"run": lambda: p.run(50), "soma"'))
    suite.makepyfile(test_cell=FORKING)
    suite.runpytest().assert_outcomes(failed=1)
    suite.runpytest().assert_outcomes(passed=1)
    result = suite.runpytest_subprocess("--nrn-calibrate", "--nrn-calibrate-timeout=6", timeout=170)
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert (
        "threads=2: skipped, as the test did not end within 6 s (a deadlock? NEURON's threads do not survive a fork)"
        in text
    ), text
    assert re.search(
        r"spikes: window=\S+ stored \(dt/2: window=\S+, cvode atol=1e-06: window=\S+; x2\)", text
    ), text
    # The hung child was killed, not left behind.
    stray = subprocess.run(
        ["pgrep", "-f", str(suite.path)], capture_output=True, text=True, check=False
    )
    assert stray.stdout == "", stray.stdout


PARAMETRIZED = """
import os

import pytest


@pytest.mark.parametrize("cell", ["a", "b", "c d"])
def test_fig1_cell(cell, spike_regression):
    spike_regression.check([1.0, 2.0 + float(os.environ.get("SHIFT", "0"))])
"""


def test_goldens_of_parametrized_tests_need_no_shell_quoting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_fig=PARAMETRIZED)
    pytester.runpytest().assert_outcomes(failed=3)
    folder = pytester.path / "test_fig"
    assert sorted(p.name for p in folder.iterdir()) == [
        "test_fig1_cell__a.spikes.json",
        "test_fig1_cell__b.spikes.json",
        "test_fig1_cell__c_d.spikes.json",
    ]
    # A golden written under the old name, with brackets, is still read, and not unused...
    (folder / "test_fig1_cell__b.spikes.json").rename(folder / "test_fig1_cell[b].spikes.json")
    result = pytester.runpytest("--nrn-unused=report")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*unused golden files*", "none"])
    monkeypatch.setenv("SHIFT", "0.5")
    result = pytester.runpytest("-k", "b")
    result.assert_outcomes(failed=1, deselected=2)
    assert "differ from the golden test_fig/test_fig1_cell[b].spikes.json" in result.stdout.str()
    # ... until --nrn-regen rewrites it under the new name.
    result = pytester.runpytest("-k", "b", "--nrn-regen")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(
        ["test_fig/test_fig1_cell__b.spikes.json  (test_fig.py::test_fig1_cell[[]b[]])"]
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "test_fig1_cell__a.spikes.json",
        "test_fig1_cell__b.spikes.json",
        "test_fig1_cell__c_d.spikes.json",
    ]
    pytester.runpytest("-k", "b").assert_outcomes(passed=1, deselected=2)


def test_stopping_pytest_during_a_hung_perturbation_leaves_no_child(suite: pytest.Pytester) -> None:
    import os
    import signal
    import time

    suite.makeconftest(MODEL.replace('yield {"soma"', 'yield {"run": lambda: p.run(50), "soma"'))
    suite.makepyfile(test_cell=FORKING)
    suite.runpytest()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--nrn-calibrate",
        "--nrn-calibrate-timeout=120",
    ]
    run = subprocess.Popen(
        command, cwd=suite.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        hung, seen, deadline = None, {}, time.monotonic() + 100
        while hung is None and time.monotonic() < deadline:  # a child alive for 3 s: the deadlock
            children = subprocess.run(
                ["pgrep", "-P", str(run.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            now = time.monotonic()
            seen = {pid: seen.get(pid, now) for pid in children}
            hung = next((pid for pid, since in seen.items() if now - since > 3), None)
            time.sleep(0.3)
        assert hung is not None, "the threads=2 perturbation did not hang"
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0]
    finally:
        run.kill()
    time.sleep(0.5)
    left = os.path.exists(f"/proc/{hung}")
    if left:  # not for the next tests
        os.kill(int(hung), signal.SIGKILL)
    assert not left, f"the deadlocked child {hung} was left behind"
    assert "KeyboardInterrupt" in output, output
