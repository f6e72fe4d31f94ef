"""The drop-in corpus: model scripts written for ``neuron.h`` give identical output with
``from patch import p as h``.

Each script in ``corpus/`` is a small model in the style of published NEURON models
(hoc through ``h(...)``, stdrun's ``run()``, redefined ``init()`` / ``advance()``,
``steps_per_ms``, POINTERs set with ``pp._ref_x = ...``, ``FInitializeHandler`` and
``cvode.event``, hoc ``Vector.play`` / ``record``, CVode networks, ParallelContext). It
is run twice in fresh processes, ``python script.py neuron OUT.json`` and ``python
script.py patch OUT.json``; the only difference is the import line. Both runs must write
the same JSON (floats compared exactly, through ``repr``) and print the same stdout (hoc's
own messages, such as stdrun's "Changed dt", included).

A crash or hang of either run is a failure that names the return code or signal and the
end of its stderr. Facts about the raw run (cells fire, pointers carry values, handlers
fire) are asserted too, so that a test cannot pass by both sides producing nothing.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Slow (model scripts in fresh interpreters): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "corpus"
MODS = CORPUS / "mods"
TIMEOUT = 60  # seconds for one model run; each takes about one
BIN = os.path.dirname(sys.executable)
NRNIVMODL = shutil.which("nrnivmodl", path=BIN) or shutil.which("nrnivmodl")
MPIEXEC = shutil.which("mpiexec", path=BIN) or shutil.which("mpiexec")
# Variables an MPI launcher sets: a child run must not believe it is one of our ranks.
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "MPI_LOCALNRANKS", "HYDRA_")
SHOWN_DIFFERENCES = 30


# -- compiling the corpus' mechanisms ---------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _compiling(tmp_path_factory):
    """Start nrnivmodl on ``corpus/mods`` in the background as soon as the module starts.

    The models without mechanisms run while it compiles; ``mechanisms`` waits for it.
    """
    build = tmp_path_factory.mktemp("corpus_mods")
    for source in MODS.glob("*.mod"):
        shutil.copy(source, build)
    if NRNIVMODL is None:
        yield build, None
        return
    process = subprocess.Popen(
        [NRNIVMODL],
        cwd=build,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    yield build, process
    if process.poll() is None:
        _kill(process)


@pytest.fixture(scope="module")
def mechanisms(_compiling):
    """The path of the library nrnivmodl built from ``corpus/mods``."""
    build, process = _compiling
    if process is None:
        pytest.fail("nrnivmodl was not found next to this Python; the corpus needs it.")
    try:
        log, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        _kill(process)
        pytest.fail("nrnivmodl did not finish within 300 s.")
    if process.returncode != 0:
        pytest.fail(f"nrnivmodl failed with return code {process.returncode}:\n{_tail(log, 40)}")
    return str(next(build.glob("*/libnrnmech.so")))


# -- running one model twice ----------------------------------------------------------------
@dataclass
class Outcome:
    """One run of a model script."""

    label: str
    returncode: int | None  # None: killed after TIMEOUT
    stdout: str
    stderr: str
    data: Any  # the JSON it wrote, or None
    unreadable: str = ""  # why there is no JSON

    def failure(self) -> str | None:
        """Why this run cannot be compared, or None when it finished and wrote its output."""
        if self.returncode is None:
            why = f"did not finish within {TIMEOUT} s and was killed"
        elif self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            why = f"was killed by {name} (return code {self.returncode})"
        elif self.returncode != 0:
            why = f"exited with return code {self.returncode}"
        elif self.data is None:
            why = f"exited with return code 0 but wrote no output ({self.unreadable})"
        else:
            return None
        return f"{self.label} {why}.\n--- end of its stderr ---\n{_tail(self.stderr, 25)}"


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    env["PYTHONFAULTHANDLER"] = "1"  # a crash shows where Python was
    env.update(extra)
    return env


def _start(
    script: str, interpreter: str, workdir: Path, env: dict[str, str], ranks: int | None
) -> tuple[subprocess.Popen, Path]:
    run_dir = workdir / interpreter
    run_dir.mkdir()  # an empty working directory: NEURON loads no x86_64/ from it
    out = run_dir / "out.json"
    command = [sys.executable, str(CORPUS / script), interpreter, str(out)]
    if ranks is not None:
        command = [MPIEXEC, "-n", str(ranks), *command]
    process = subprocess.Popen(
        command,
        cwd=run_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, out


def _finish(label: str, process: subprocess.Popen, out: Path) -> Outcome:
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        _kill(process)
        stdout, stderr = process.communicate()
        returncode = None
    try:
        data, unreadable = json.loads(out.read_text()), ""
    except (OSError, ValueError) as error:  # not written, or cut short by a crash
        data, unreadable = None, str(error)
    return Outcome(label, returncode, stdout, stderr, data, unreadable)


def _kill(process: subprocess.Popen) -> None:
    """Kill a child we started and everything it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run_both(
    script: str, workdir: Path, *, env: dict[str, str] | None = None, ranks: int | None = None
) -> tuple[Outcome, Outcome]:
    """Run ``script`` with raw ``h`` and with ``p``; serial runs go side by side."""
    env = env or _environment()
    what = f"{script}" + (f" on {ranks} ranks" if ranks else "")
    labels = {
        "neuron": f"{what} with raw `from neuron import h`",
        "patch": f"{what} with `from patch import p as h`",
    }
    if ranks is None:
        started = {name: _start(script, name, workdir, env, ranks) for name in labels}
        return tuple(_finish(labels[name], *started[name]) for name in labels)  # type: ignore[return-value]
    outcomes = []
    for name in labels:  # MPI runs one after the other: two worlds would oversubscribe
        outcomes.append(_finish(labels[name], *_start(script, name, workdir, env, ranks)))
    return tuple(outcomes)  # type: ignore[return-value]


# -- comparing -----------------------------------------------------------------------------
def _tail(text: str, lines: int) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(empty)"


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and repr(a) == repr(b)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def differences(raw: Any, patched: Any, path: str = "output") -> list[str]:
    """Readable lines naming every place where two JSON values differ (floats exactly)."""
    if isinstance(raw, dict) and isinstance(patched, dict):
        found = []
        for key in list(raw) + [k for k in patched if k not in raw]:
            where = f"{path}.{key}"
            if key not in patched:
                found.append(f"{where}: only in the raw run")
            elif key not in raw:
                found.append(f"{where}: only in the patch run")
            else:
                found += differences(raw[key], patched[key], where)
        return found
    if isinstance(raw, list) and isinstance(patched, list):
        if all(map(_is_scalar, raw + patched)):
            return _series_differences(raw, patched, path)
        found = []
        if len(raw) != len(patched):
            found.append(f"{path}: {len(raw)} items (raw) vs {len(patched)} (patch)")
        for i, (a, b) in enumerate(zip(raw, patched, strict=False)):
            found += differences(a, b, f"{path}[{i}]")
        return found
    if _same(raw, patched):
        return []
    return [f"{path}: raw {raw!r}, patch {patched!r}"]


def _series_differences(raw: list, patched: list, path: str) -> list[str]:
    found = []
    if len(raw) != len(patched):
        found.append(
            f"{path}: length {len(raw)} (raw) vs {len(patched)} (patch); "
            f"last values raw {raw[-1:]!r}, patch {patched[-1:]!r}"
        )
    unequal = [i for i, (a, b) in enumerate(zip(raw, patched, strict=False)) if not _same(a, b)]
    if unequal:
        first = unequal[0]
        gaps = [
            abs(raw[i] - patched[i])
            for i in unequal
            if isinstance(raw[i], float) and isinstance(patched[i], float)
        ]
        largest = (
            f"; largest difference {max(gaps):.6g}"
            if gaps and all(map(math.isfinite, gaps))
            else ""
        )
        found.append(
            f"{path}: {len(unequal)} of {min(len(raw), len(patched))} values differ, first at "
            f"[{first}]: raw {raw[first]!r}, patch {patched[first]!r}{largest}"
        )
    return found


def assert_ran(outcome: Outcome) -> Any:
    """The output of a run that must have finished; a readable failure otherwise."""
    problem = outcome.failure()
    if problem:
        pytest.fail(problem, pytrace=False)
    return outcome.data


def assert_identical(raw: Outcome, patched: Outcome, *, ignore_stdout: str | None = None) -> None:
    """Both runs finished, wrote the same JSON and printed the same stdout."""
    assert_ran(raw)
    assert_ran(patched)
    found = differences(raw.data, patched.data)
    raw_out, patch_out = raw.stdout.splitlines(), patched.stdout.splitlines()
    if ignore_stdout:
        raw_out = [line for line in raw_out if not re.fullmatch(ignore_stdout, line)]
        patch_out = [line for line in patch_out if not re.fullmatch(ignore_stdout, line)]
    if raw_out != patch_out:
        import difflib

        diff = difflib.unified_diff(
            raw_out, patch_out, "stdout (raw h)", "stdout (patch p)", lineterm=""
        )
        found.append("stdout differs:\n    " + "\n    ".join(list(diff)[:40]))
    if found:
        shown = found[:SHOWN_DIFFERENCES]
        more = f"\n... and {len(found) - len(shown)} more" if len(found) > len(shown) else ""
        pytest.fail(
            f"raw `h` and `p` gave different output ({len(found)} difference(s)):\n"
            + "\n".join(shown)
            + more,
            pytrace=False,
        )


def _spiked(trace: list[float]) -> bool:
    return max(trace) > 0


# -- the corpus, models without mechanisms first (nrnivmodl runs meanwhile) -------------------
def test_custom_init_and_advance_under_stdrun_run(tmp_path):
    """Model 1: hoc ``proc init()``, ``advance()`` and ``run()`` redefined, driven by ``h.run()``."""
    raw, patched = run_both("custom_init.py", tmp_path)
    data = assert_ran(raw)
    first, second = data["first"], data["second"]
    assert (first["ninit"], second["ninit"]) == (1, 2), "the model's init() must run once per run()"
    assert (first["nruns"], second["nruns"]) == (1, 2), "h.run() calls the model's own run()"
    assert second["nspikes_last"] == len(second["spikes"]) > 0
    assert first["nadvance"] == second["nadvance"] == 1200, "advance() runs once per step"
    assert first["dend_v"][0] == pytest.approx(-72 - 6 * 13 / 14), (
        "init() sets the dendrites' voltage"
    )
    assert first["m"][0] == 0.2, "init() sets m_hh after finitialize"
    assert first["spikes"] and second["spikes"][0] < first["spikes"][0], "the ramp makes spikes"
    assert second["stim_amp"] > first["stim_amp"] > 0, "advance() ramps the clamp"
    assert_identical(raw, patched)


def test_steps_per_ms_and_setdt_under_stdrun_run(tmp_path):
    """Model 2: ``dt`` that does not fit ``steps_per_ms``; ``run()`` changes it (setdt)."""
    raw, patched = run_both("steps_per_ms.py", tmp_path)
    data = assert_ran(raw)
    assert raw.stdout.count("Changed dt") == 3, raw.stdout
    assert data["fine"]["dt"] == 0.1 / 3 and data["fine"]["n_points"] == 361
    assert data["coarse"]["dt"] == 0.025 and data["coarse"]["n_points"] == 481
    assert data["stdinit"]["dt"] == 0.0625 and data["stdinit"]["n_points"] == 193
    assert all(data[run]["spikes"] for run in data), "the axon fires in every run"
    assert_identical(raw, patched)


def test_finitialize_handlers_and_cvode_events(tmp_path):
    """Model 4: ``FInitializeHandler`` types 0, 1 and 3 scheduling ``cvode.event`` callbacks."""
    raw, patched = run_both("init_handlers.py", tmp_path)
    data = assert_ran(raw)
    for run, inits in (("fixed", 1), ("cvode", 2)):
        entry = data[run]
        assert entry["ninit_hoc"] == inits, "the hoc-statement handler runs in every finitialize"
        kinds = [item[0] for item in entry["log"]]
        assert kinds == ["type0", "type1"] + ["step"] * 5, entry["log"]
        assert len(entry["samples"]) == 12, "the self-rescheduling event samples every 2.5 ms"
        assert entry["spikes"], "the clamp steps make the cell fire"
    assert [item[1] for item in data["cvode"]["log"][2:]] == [3.0, 9.5, 14.0, 17.25, 22.0]
    assert_identical(raw, patched)


def test_vector_play_and_record_in_hoc(tmp_path):
    """Model 5: ``Vector.play`` (continuous and with Dt) and ``Vector.record`` in hoc."""
    raw, patched = run_both("hoc_play_record.py", tmp_path)
    data = assert_ran(raw)
    assert _spiked(data["vprox"]) and _spiked(data["vdist"]), "the played current fires the axon"
    assert data["gnabar_mid"] == pytest.approx(0.06 + 0.004 * 24), "the played gnabar arrived"
    assert len(data["vsampled"]) == 50 and len(data["vattimes"]) == 7
    assert len(data["trec"]) == len(data["vprox"]) == 1001
    assert_identical(raw, patched)


def test_cvode_network(tmp_path):
    """Model 6: HH ball-and-stick ring with ExpSyn/Exp2Syn and a NetStim under CVode."""
    raw, patched = run_both("cvode_network.py", tmp_path)
    data = assert_ran(raw)
    for run in ("global", "run", "local"):
        assert all(data[run]["spikes"]), f"every cell fires in the {run!r} run"
    assert max(data["global"]["g_inh"]) > 0, "the inhibitory Exp2Syn was activated"
    assert len(data["global"]["time"]) != 100 / 0.025 + 1, "CVode chose its own steps"
    assert_identical(raw, patched)


def test_chunked_run_at_numpy_times(tmp_path):
    """``continuerun`` to checkpoints from ``np.arange`` (numpy integers), amplitudes and
    the initial voltage from numpy arrays, progress printed after each chunk."""
    raw, patched = run_both("chunked_run.py", tmp_path)
    data = assert_ran(raw)
    assert [round(t) for t, _ in data["progress"]] == [10, 20, 30, 40, 50, 60]
    assert data["progress"][-1][1] == len(data["spikes"]) > 2, "the cell fires more as amp grows"
    assert raw.stdout.count("spikes so far") == 6
    assert_identical(raw, patched)


def test_objects_named_in_results_and_log(tmp_path):
    """Results keyed by ``str(sec)`` / ``str(seg)`` and objects printed in f-strings."""
    raw, patched = run_both("named_objects.py", tmp_path)
    data = assert_ran(raw)
    assert list(data["peaks"]) == ["soma", "dend"] and data["labels"] == ["IClamp[0]", "IClamp[1]"]
    assert all(peak > 0 for peak in data["peaks"].values()), "both stimuli fire the cell"
    assert "IClamp[0] at soma(0.5) on soma: 0.4 nA from 2.0 ms" in raw.stdout.splitlines()
    assert_identical(raw, patched)


def _mpi_library() -> str | None:
    """The MPI library mpi4py loads, for raw NEURON's MPI_LIB_NRN_PATH."""
    if os.environ.get("MPI_LIB_NRN_PATH"):
        return os.environ["MPI_LIB_NRN_PATH"]
    code = (
        "import re\nfrom mpi4py import MPI\n"
        "for line in open('/proc/self/maps'):\n"
        "    path = line.split()[-1]\n"
        "    if re.search(r'/lib(mpi|mpich)[\\w-]*\\.so(\\.\\d+)*$', path):\n"
        "        print(path)\n        break\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_environment()
    )
    return found.stdout.strip() or None


def test_parallel_network_on_two_ranks(tmp_path, mpi_leftovers_removed):
    """Model 6 across 2 ranks: gids, ``gid_connect``, ``set_maxstep``, ``stdinit``, ``psolve``.

    Raw NEURON needs ``MPI_LIB_NRN_PATH`` to find MPI; both runs get the same environment.
    NEURON's "numprocs=2" banner, which Patch does not let through, is left out of the
    stdout comparison.
    """
    if MPIEXEC is None:
        pytest.skip("mpiexec not found")
    library = _mpi_library()
    if library is None:
        pytest.skip("no MPI library found for raw NEURON (MPI_LIB_NRN_PATH)")
    raw, patched = run_both(
        "parallel_network.py", tmp_path, ranks=2, env=_environment(MPI_LIB_NRN_PATH=library)
    )
    data = assert_ran(raw)
    assert data["nhost"] == 2, "raw NEURON must run on two ranks"
    assert sorted({int(gid) for gid, _ in data["spikes"]}) == [0, 1, 2, 3, 4], (
        "spikes crossed ranks"
    )
    assert [part["t"] for part in data["ranks"]] == [80.0, 80.0]
    assert_identical(raw, patched, ignore_stdout=r"numprocs=\d+")


def test_pointer_loop_between_point_processes(tmp_path, mechanisms):
    """Model 3: two POINTERs closing a loop between point processes, one ARTIFICIAL_CELL
    POINTER, all set with ``pp._ref_name = other._ref_var``."""
    raw, patched = run_both(
        "pointer_loop.py", tmp_path, env=_environment(CORPUS_MECHANISMS=mechanisms)
    )
    data = assert_ran(raw)
    assert max(data["s_A"]) > 0.05 and max(data["s_B"]) > 0.05, "both cells were active"
    assert max(data["i_A"]) > 0 and max(data["i_B"]) > 0, "each cell felt its partner's s"
    final = data["final"]
    assert final["partner_s_A"] == data["s_B"][-1] and final["partner_s_B"] == data["s_A"][-1]
    burst = data["spikes"]["burster"]
    assert final["max_drive"] > 0.05 and final["nspikes"] == len(burst)
    assert min(b - a for a, b in zip(burst, burst[1:], strict=False)) < 12 - 1, (
        "the drive shortened intervals"
    )
    assert data["spikes"]["A"] and data["spikes"]["B"]
    assert_identical(raw, patched)


def test_optional_pointer_left_unset(tmp_path, mechanisms):
    """A POINTER tested with ``nrn_pointing()``: set on one instance, unset on another."""
    raw, patched = run_both(
        "optional_pointer.py", tmp_path, env=_environment(CORPUS_MECHANISMS=mechanisms)
    )
    data = assert_ran(raw)
    final = data["final"]
    assert (final["pointing_A"], final["pointing_C"]) == (1, 0)
    assert _spiked(data["v_B"]) and _spiked(data["v_A"]), "B's spikes reach A through the pointer"
    assert not _spiked(data["v_C"]) and max(data["g_C"]) == 0.0002
    assert_identical(raw, patched)
