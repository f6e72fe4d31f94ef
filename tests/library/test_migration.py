"""From nrn-patch 8 to Patch 9: docs/migrating.md, held to account.

1. ``migration/old_style.py``, a model written for nrn-patch 8, runs against Patch in a
   fresh process: each old name it uses still works and warns, naming its replacement.
2. ``migration/migrated.py``, the same model with the guide's changes applied, gives the
   spikes ``old_style.py`` gave under nrn-patch 8.0.2 (``migration/nrn_patch_8.json``),
   and every cell of it spikes. Without the changes the spikes differ, so the example
   does exercise the changed meanings.
3. Every row of the guide's tables of nrn-patch 8's names: the old spelling works, warns
   naming its replacement, or raises; what the guide says to write instead works. The
   table ``ROWS`` below mirrors the guide, and the two must name the same rows.
4. ``Section.connect_points`` makes a NetCon that transmits.

``nrn_patch_8.json`` was written by ``python run.py old_style.py nrn_patch_8.json`` in a
throwaway virtualenv holding ``neuron==9.0.2`` and ``nrn-patch==8.0.2`` (installed with
``--no-deps``, beside ``errr``, ``packaging`` and ``numpy``); it records those versions.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import neuron
import numpy as np
import pytest

import patch
from patch import p
from patch.exceptions import (
    ArgumentError,
    ParallelConnectError,
    PatchError,
    TopologyError,
    UnknownAttributeError,
)

HERE = Path(__file__).resolve().parent
MIGRATION = HERE / "migration"
GUIDE = HERE.parent.parent / "docs" / "migrating.md"
TIMEOUT = 120  # seconds for one model run; each takes about two
# Variables an MPI launcher sets: a child run must not believe it is one of our ranks.
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "MPI_LOCALNRANKS", "HYDRA_")


# -- running the example ---------------------------------------------------------------
def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def _python(args: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    # An empty working directory: NEURON loads no x86_64/ from it.
    return subprocess.run(
        [sys.executable, *args],
        cwd=workdir,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """What ``old_style.py`` and ``migrated.py`` did against Patch, each in a fresh process."""
    workdir = tmp_path_factory.mktemp("migration")
    started = {}
    for name in ("old_style", "migrated"):
        out = workdir / f"{name}.json"
        process = subprocess.Popen(
            [sys.executable, str(MIGRATION / "run.py"), str(MIGRATION / f"{name}.py"), str(out)],
            cwd=workdir,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started[name] = (process, out)
    results = {}
    for name, (process, out) in started.items():
        try:
            _, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"{name}.py did not finish within {TIMEOUT} s:\n{stderr[-3000:]}")
        if process.returncode != 0:
            pytest.fail(f"{name}.py exited with {process.returncode}:\n{stderr[-3000:]}")
        results[name] = json.loads(out.read_text())
    return results


@pytest.fixture(scope="module")
def nrn_patch_8() -> dict[str, Any]:
    """What ``old_style.py`` did under nrn-patch 8.0.2."""
    return json.loads((MIGRATION / "nrn_patch_8.json").read_text())


def test_the_reference_was_made_with_nrn_patch_8(nrn_patch_8):
    assert nrn_patch_8["versions"]["nrn-patch"] == "8.0.2"
    assert nrn_patch_8["celsius"] == 32  # nrn-patch 8's own start-up value
    assert nrn_patch_8["t"] == pytest.approx(150)  # continuerun(50) three times, *for* 50 ms


#: The old names old_style.py uses that Patch keeps, and what each warning must name.
OLD_NAMES_IN_THE_EXAMPLE = {
    "patch.NotConnectableError": "patch.exceptions.NotConnectableError",
    "patch.objects.Section": "patch.Section",
    "patch.objects.PointProcess": "patch.PointProcess",
    "iclamp(amplitude=...)": "iclamp(amp=..., duration=100)",
}


def test_old_names_work_and_warn_naming_their_replacement(runs):
    old = runs["old_style"]
    messages = [w["message"] for w in old["warnings"]]
    for name, replacement in OLD_NAMES_IN_THE_EXAMPLE.items():
        found = [m for m in messages if name in m]
        assert found, f"no warning for {name}; warnings were:\n" + "\n".join(messages)
        assert all(replacement in m for m in found), found
    for warning in old["warnings"]:  # each one points at the line of the script
        assert warning["category"] == "DeprecationWarning", warning
        assert warning["filename"] == "old_style.py", warning
        assert "docs/migrating.md" in warning["message"], warning
    assert old["spikes"]["cell0"], "the old script ran, and its first cell fired"


def test_the_migrated_model_gives_nrn_patch_8_spikes(runs, nrn_patch_8):
    migrated = runs["migrated"]
    assert migrated["warnings"] == []
    expected = nrn_patch_8["spikes"]
    assert sorted(migrated["spikes"]) == sorted(expected) == ["cell0", "cell1", "cell2"]
    for cell, times in expected.items():
        got = migrated["spikes"][cell]
        assert len(got) == len(times), (cell, got, times)
        np.testing.assert_allclose(got, times, rtol=0, atol=1e-6, err_msg=cell)
    # The model does spike: every cell fires, the first also after its clamp ends.
    assert all(len(times) >= 2 for times in expected.values()), expected
    assert max(expected["cell0"]) > 105


def test_without_the_guides_changes_the_spikes_differ(runs, nrn_patch_8):
    """The example exercises what changed meaning: run unmigrated against Patch, it
    stops at t = 50 (continuerun), at 6.3 °C, with a NetCon of weight 0."""
    old = runs["old_style"]
    assert old["celsius"] == pytest.approx(6.3)
    assert old["t"] == pytest.approx(50)
    assert old["spikes"] != nrn_patch_8["spikes"]
    assert old["spikes"]["cell1"] == []  # the default NetCon delivered nothing


# -- connect_points ----------------------------------------------------------------------
def _cell(name: str) -> Any:
    soma = p.Section(name=name)
    soma.L = soma.diam = 20
    soma.insert("hh")
    return soma


def test_connect_points_from_a_spiking_section_makes_the_synapse_conduct():
    pre, post = _cell("pre"), _cell("post")
    pre.iclamp(amp=0.3, delay=1, duration=2)
    syn = post.synapse(p.ExpSyn, tau=2)
    nc = pre.connect_points(syn)
    assert (nc.threshold, nc.weight[0], nc.delay) == (-20, pytest.approx(0.1), 1)
    current = p.Vector().record(syn._ref_i)
    pre_v, post_v = pre.record(), post.record()
    p.run(15)
    assert max(pre_v) > 0, "the source fired"
    assert min(current) < 0, "the synapse conducted"
    assert max(post_v) > 0, "and made its cell fire"


def test_connect_points_defaults_can_be_overridden():
    syn = p.Section().synapse(p.ExpSyn)
    nc = p.Section().connect_points(syn, threshold=0, weight=0.02, delay=2)
    assert (nc.threshold, nc.weight[0], nc.delay) == (0, pytest.approx(0.02), 2)
    raw = p.Section().connect_points(syn, threshold=None, weight=None, delay=None)
    assert (raw.threshold, raw.weight[0], raw.delay) == (10, 0, 1)  # NEURON's own


# -- iclamp -------------------------------------------------------------------------------
def test_iclamp_amplitude_keeps_nrn_patch_8s_clamp_and_warns():
    s = p.Section()
    with pytest.warns(DeprecationWarning, match=re.escape("iclamp(amp=..., duration=100)")) as seen:
        clamp = s.iclamp(amplitude=0.3, delay=5)
    assert seen[0].filename == __file__
    assert (clamp.amp, clamp.delay, clamp.dur) == (pytest.approx(0.3), 5, 100)
    with pytest.warns(DeprecationWarning, match=r"iclamp\(amp=\.\.\.\) instead"):
        assert s.iclamp(amplitude=0.3, duration=7).dur == 7
    with pytest.raises(ArgumentError, match="amp= only"):
        s.iclamp(amp=0.3, amplitude=0.3)


def test_iclamp_position_without_amp_is_refused():
    s = p.Section()
    with pytest.raises(ArgumentError, match=r"nrn-patch 8.*iclamp\(amp=0.3\)"):
        s.iclamp(0.3)
    assert s.iclamp(0.3, amp=0.2).amp == pytest.approx(0.2)
    assert s.iclamp().amp == pytest.approx(0.1)


# -- the guide's tables ------------------------------------------------------------------
@dataclass(frozen=True)
class GuideRow:
    names: tuple[str, ...]  # the code spans of the first column
    replacements: tuple[str, ...]  # the code spans of the second
    fate: str  # the first word of the third


def guide_rows() -> list[GuideRow]:
    """The rows of the tables under "Every name of nrn-patch 8"."""
    text = GUIDE.read_text().split("## Every name of nrn-patch 8", 1)[1]
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| nrn-patch 8 |", "| --- |")):
            continue
        first, second, third = (cell.strip() for cell in line.strip().strip("|").split(" | "))
        rows.append(
            GuideRow(
                tuple(re.findall(r"`([^`]+)`", first)),
                tuple(re.findall(r"`([^`]+)`", second)),
                third.split()[0],
            )
        )
    return rows


FATES = {"same", "deprecated", "renamed", "replaced", "removed", "changed"}
RAISES = {"renamed", "replaced", "removed"}  # the old spelling raises


def resolve(dotted: str) -> Any:
    """``patch.objects.Section`` and the like, as ``getattr`` after the longest import."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise ImportError(dotted)


def _is_dotted_name(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][\w.]*", text) is not None


@pytest.fixture
def m(p):
    """A fresh model (an hh soma ``s`` with an ExpSyn ``syn``) on a clean simulator: the
    rows run the model, and a test before them may have left CVode's last step in dt."""
    s = _cell("soma")
    syn = p.ExpSyn(s)
    yield SimpleNamespace(s=s, syn=syn)
    p.parallel.gid_clear()


@dataclass(frozen=True)
class Spec:
    """One guide row of names on objects (not module attributes), run against Patch.

    ``old`` is the nrn-patch 8 spelling; for a ``changed`` row it asserts Patch's meaning.
    ``new`` is what the guide says to write, asserting it does what nrn-patch 8 did.
    ``raises``: what ``old`` raises; ``names_fate``: whether that error is a PatchError
    that says what to do (else it is Python's or NEURON's own error, whose class is not
    part of this change: the guide is the only place that says what replaced it).
    """

    old: Callable[[Any], Any]
    new: Callable[[Any], Any] | None = None
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None
    names_fate: bool = False


def _fresh_interpreter(code: str) -> str:
    """What ``code`` prints in a new Python process (in an empty directory)."""
    with tempfile.TemporaryDirectory() as workdir:
        out = _python(["-c", code], Path(workdir))
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def _warns(replacement: str, call: Callable[[], Any]) -> Any:
    """``call()``, which must warn that it is an old name, naming ``replacement``."""
    with pytest.warns(DeprecationWarning, match=replacement):
        return call()


def _netcon_defaults(nc: Any) -> tuple[float, float, float]:
    return (nc.threshold, nc.weight[0], nc.delay)


def _connect_refuses_loops(m: Any) -> None:
    parent, child = p.Section(name="loop_parent"), p.Section(name="loop_child")
    child.connect(parent)
    with pytest.raises(TopologyError):
        parent.connect(child)


def _same_sections(m: Any) -> None:
    child = p.Section(name="child")
    assert child.connect(m.s) is child
    assert m.s.insert("pas") is m.s
    with m.s.push():
        assert p.cas() is m.s
    v = m.s.record()
    assert m.s.recordings[0.5] is v and m.s.record() is v
    assert m.s.wholetree()[1] is child
    assert p.SectionRef(m.s).child[0] is child
    assert p.Vector().record(m.s(0.5)) is not None
    assert [seg.x for seg in m.s] == [m.s(0.5).x]


def _stimulate(m: Any) -> None:
    stim = p.NetStim(start=0, number=1, interval=10)
    p.NetCon(stim, m.syn, weight=0.04, delay=0)
    p.finitialize(-65)
    p.continuerun(1)
    assert m.syn.g > 0


def _spike_record(m: Any) -> None:
    times, gids = p.Vector(), p.Vector()
    p.parallel.spike_record(-1, times, gids)
    assert isinstance(p.parallel.record_spikes(), patch.SpikeRecorder)


def _iclamp_old(m: Any) -> None:
    with pytest.warns(DeprecationWarning, match=re.escape("amp=")):
        old = m.s.iclamp(amplitude=0.3, delay=5)
    assert old.dur == 100
    with pytest.raises(ArgumentError, match="nrn-patch 8"):
        m.s.iclamp(0.3)


def _alias_set_does_nothing(clamp: Any, alias: str, attribute: str) -> None:
    with pytest.raises(UnknownAttributeError, match=attribute):
        getattr(clamp, alias)  # refused, naming the clamp's variables
    before = getattr(clamp, attribute)
    with pytest.raises(UnknownAttributeError, match=attribute):
        setattr(clamp, alias, 10)  # refused, naming the clamp's variables
    assert getattr(clamp, attribute) == before


class _Duck:
    def __init__(self, section: Any) -> None:
        self.section = section

    def __neuron__(self) -> Any:
        return self.section

    def __arc__(self) -> float:
        return 0.5

    def __record__(self) -> Any:
        return self.section(0.5)._ref_v


#: Rows of the guide about names on objects, keyed by the first name of the row.
ROWS: dict[str, Spec] = {
    # -- p -----------------------------------------------------------------------------
    "p.<hoc name>": Spec(lambda m: (p.dt, p.load_file, p.Vector(), p.ExpSyn(m.s, tau=2).tau == 2)),
    "p.<new name> = value": Spec(
        lambda m: pytest.raises(LookupError, setattr, p, "something_else", 15.4),
        new=lambda m: None,
    ),
    "celsius = 32": Spec(
        lambda m: _fresh_interpreter("from patch import p; print(p.celsius)") == "6.3",
        new=lambda m: (
            _fresh_interpreter("from patch import p; p.celsius = 32; print(p.celsius)") == "32.0"
        ),
    ),
    'load_file("stdrun.hoc")': Spec(
        lambda m: (
            _fresh_interpreter(
                "from patch import p\ntry:\n    p.tstop\nexcept AttributeError:\n    print('raises')"
            )
            == "raises"
        ),
        new=lambda m: (
            _fresh_interpreter("from patch import p; p.load_stdrun(); print(p.tstop)") == "5.0"
        ),
    ),
    "p.NetCon": Spec(
        lambda m: (
            _netcon_defaults(p.NetCon(m.s, m.syn)) == (10, 0, 1)
            and p.NetCon(neuron.h.NetStim(), m.syn) is not None
        ),  # a raw source is accepted
        new=lambda m: (
            _netcon_defaults(p.NetCon(m.s, m.syn, threshold=-20, weight=0.1))
            == (-20, pytest.approx(0.1), 1)
        ),
    ),
    "p.ParallelCon(source, gid)": Spec(
        lambda m: p.ParallelCon(m.s, 91001).threshold == 10,
        new=lambda m: p.ParallelCon(_cell("other"), 91002, threshold=-20).threshold == -20,
    ),
    "p.ParallelCon(source, gid, weight=w, delay=d)": Spec(
        lambda m: p.ParallelCon(m.s, 91007, weight=0.5, delay=1),
        raises=ParallelConnectError,
        new=lambda m: p.ParallelCon(91007, m.syn, weight=0.5, delay=1),
    ),
    "p.ParallelCon(gid, target, weight, delay)": Spec(
        lambda m: p.ParallelCon(91003, m.syn, 0.5, 1),
        raises=ParallelConnectError,
        names_fate=True,
        new=lambda m: p.ParallelCon(91003, m.syn, weight=0.5, delay=1).weight[0] == 0.5,
    ),
    "p.ParallelCon(..., output=False)": Spec(
        lambda m: p.ParallelCon(m.s, 91004, output=False),
        raises=TypeError,
        new=lambda m: p.NetCon(m.s, m.syn, threshold=-20, weight=0.1),
    ),
    "p.SectionRef": Spec(lambda m: p.SectionRef(m.s).sec is p.SectionRef(sec=m.s).sec is m.s),
    "p.ParallelContext": Spec(lambda m: p.ParallelContext() is p.parallel),
    "p.IClamp": Spec(
        lambda m: (p.IClamp(sec=m.s).amp, p.IClamp(m.s).dur, p.SEClamp(m.s).dur1) == (0, 0, 0),
        new=lambda m: (
            m.s.vclamp(0.3, voltage=[-70, -50, -70], duration=[100, 100, 100]).amp2 == -50
        ),
    ),
    "p.VecStim": Spec(lambda m: p.VecStim, raises=AttributeError),
    "p.time": Spec(lambda m: isinstance(p.time, patch.Vector)),
    "p.finitialize": Spec(lambda m: p.finitialize(-65)),
    "p.continuerun": Spec(
        lambda m: (
            (p.finitialize(-65), p.continuerun(5), p.continuerun(5), p.t)[-1] == pytest.approx(5)
        ),
        new=lambda m: (
            (p.finitialize(-65), p.continuerun(p.t + 5), p.continuerun(p.t + 5), p.t)[-1]
            == pytest.approx(10)
        ),
    ),
    "p.run": Spec(
        lambda m: pytest.raises(TypeError, p.run, 5, -70),
        new=lambda m: (
            (p.load_stdrun(), setattr(p, "v_init", -70), p.run(5), p.t)[-1] == pytest.approx(5)
        ),
    ),
    "p.cas": Spec(lambda m: m.s.push() is p.cas() is m.s and m.s.pop() is None),
    "p.record": Spec(
        lambda m: p.record, raises=AttributeError, new=lambda m: p.Vector().record(m.s)
    ),
    "p.nrn_load_dll": Spec(lambda m: callable(p.nrn_load_dll)),
    "p.register_hoc_object": Spec(lambda m: p.register_hoc_object, raises=AttributeError),
    # -- p.parallel --------------------------------------------------------------------
    "ParallelContext.broadcast": Spec(lambda m: p.parallel.broadcast([1, 2]) == [1, 2]),
    "ParallelContext.cell": Spec(
        lambda m: all(
            callable(getattr(p.parallel, name))
            for name in ("cell", "gid_connect", "source_var", "target_var", "setup_transfer")
        )
    ),
    "ParallelContext.set_gid2node": Spec(
        lambda m: pytest.raises(TypeError, p.parallel.set_gid2node, 91005),
        new=lambda m: p.parallel.set_gid2node(91005, p.parallel.rank),
    ),
    "ParallelContext.spike_record": Spec(
        lambda m: pytest.raises(RuntimeError, p.parallel.spike_record),
        new=_spike_record,
    ),
    "ParallelContext.psolve": Spec(
        lambda m: pytest.raises(TypeError, p.parallel.psolve, 5, -65),
        new=lambda m: (
            (p.parallel.set_maxstep(10), p.finitialize(-65), p.parallel.psolve(5), p.t)[-1]
            == pytest.approx(5)
        ),
    ),
    # -- sections, segments and the other objects ------------------------------------------
    "Section.connect": Spec(_connect_refuses_loops, new=_same_sections),
    "Section.insert": Spec(_same_sections),
    "Section.connect_synapse": Spec(
        lambda m: (
            _warns("connect_points", lambda: _netcon_defaults(m.s.connect_synapse(m.syn)))
            == (-20, pytest.approx(0.1), 1)
        ),
        new=lambda m: _netcon_defaults(m.s.connect_points(m.syn)) == (-20, pytest.approx(0.1), 1),
    ),
    "Section.synapse(factory, attributes={...})": Spec(
        lambda m: m.s.synapse(p.ExpSyn, attributes={"tau": 2}),
        raises=UnknownAttributeError,
        new=lambda m: m.s.synapse(p.ExpSyn, tau=2).tau == 2,
    ),
    "Section.synapse(..., store=True)": Spec(
        lambda m: m.s.synapse(p.ExpSyn, store=True),
        raises=UnknownAttributeError,
    ),
    "Section.iclamp": Spec(
        _iclamp_old,
        new=lambda m: (
            (lambda c: (c.amp, c.delay, c.dur))(m.s.iclamp(amp=0.3, delay=5, duration=100))
            == (pytest.approx(0.3), 5, 100)
        ),
    ),
    "Section.vclamp": Spec(
        lambda m: pytest.raises(TypeError, m.s.vclamp, 20, holding=-70, before=10),
        new=lambda m: (
            (lambda c: (c.dur1, c.dur2, c.dur3, c.amp1, c.amp2, c.amp3))(
                m.s.vclamp(voltage=[-70, 20, -70], duration=[10, 50, 20])
            )
            == (10, 50, 20, -70, 20, -70)
        ),
    ),
    "Section.parent": Spec(
        lambda m: (lambda child: child.parent is m.s and m.s.parent is None)(
            p.Section().connect(m.s)
        ),
    ),
    "Section.set_dimensions": Spec(
        lambda m: m.s.set_dimensions,
        raises=AttributeError,
        new=lambda m: (
            (setattr(m.s, "L", 10), setattr(m.s, "diam", 5), (m.s.L, m.s.diam))[-1] == (10, 5)
        ),
    ),
    "Section.set_segments": Spec(
        lambda m: m.s.set_segments,
        raises=AttributeError,
        new=lambda m: (setattr(m.s, "nseg", 5), m.s.nseg)[-1] == 5,
    ),
    "Section.add_3d": Spec(
        lambda m: m.s.add_3d,
        raises=AttributeError,
        new=lambda m: (m.s.pt3dadd(0, 0, 0, 3), m.s.pt3dadd(4, 3, 2, 3), m.s.n3d())[-1] == 2,
    ),
    "Section.points": Spec(
        lambda m: m.s.points,
        raises=AttributeError,
        new=lambda m: (
            (
                m.s.pt3dadd(1, 2, 3, 4),
                np.array([[m.s.x3d(i), m.s.y3d(i), m.s.z3d(i)] for i in range(m.s.n3d())]).tolist(),
            )[-1]
            == [[1, 2, 3]]
        ),
    ),
    "Section.<your attribute>": Spec(lambda m: setattr(m.s, "label", "x"), raises=AttributeError),
    "SectionRef.section": Spec(
        lambda m: _warns("SectionRef.sec", lambda: p.SectionRef(m.s).section) is m.s,
        new=lambda m: p.SectionRef(m.s).sec is m.s,
    ),
    "Segment.section": Spec(
        lambda m: m.s(0.5).section,
        raises=AttributeError,
        new=lambda m: m.s(0.5).sec is m.s,
    ),
    "PointProcess.stimulate": Spec(
        lambda m: m.syn.stimulate, raises=AttributeError, new=_stimulate
    ),
    "Vector.record(point_process)": Spec(
        lambda m: p.Vector().record(m.syn),
        raises=PatchError,  # NotRecordableError
        new=lambda m: p.Vector().record(m.syn._ref_i),
    ),
    "NetCon.record()": Spec(
        lambda m: not isinstance(p.NetCon(m.s, m.syn).record(), patch.Vector),
        new=lambda m: (lambda v: p.NetCon(m.s, None).record(v) or v)(p.Vector()),
    ),
    "NetCon.threshold": Spec(
        lambda m: pytest.raises(ParallelConnectError, p.ParallelCon, 91006, m.syn, threshold=-20),
        new=lambda m: p.ParallelCon(91006, m.syn, weight=0.1),
    ),
    "IClamp.amplitude": Spec(
        lambda m: [
            _alias_set_does_nothing(p.IClamp(m.s), alias, name)
            for alias, name in (("amplitude", "amp"), ("duration", "dur"))
        ],
        new=lambda m: (
            (lambda c: (setattr(c, "amp", 0.2), setattr(c, "dur", 10), (c.amp, c.dur))[-1])(
                p.IClamp(m.s)
            )
            == (pytest.approx(0.2), 10)
        ),
    ),
    "SEClamp.delay": Spec(
        lambda m: [
            _alias_set_does_nothing(p.SEClamp(m.s), alias, name)
            for alias, name in (
                ("delay", "dur1"),
                ("duration", "dur2"),
                ("after", "dur3"),
                ("voltage", "amp2"),
                ("holding", "amp1"),
            )
        ],
        new=lambda m: (
            (lambda c: (setattr(c, "dur1", 10), setattr(c, "amp2", -50), (c.dur1, c.amp2))[-1])(
                p.SEClamp(m.s)
            )
            == (10, -50)
        ),
    ),
    "VecStim.vector": Spec(lambda m: p.VecStim, raises=AttributeError),
    "PointProcess.parameters": Spec(
        lambda m: m.syn.parameters,
        raises=AttributeError,
        new=lambda m: "tau" in dir(neuron.h.ExpSyn) and type(m.syn.e) is float,
    ),
    "__neuron__": Spec(lambda m: m.s.__neuron__() is m.s and patch.transform(m.syn) is m.syn),
    "__ref__": Spec(
        lambda m: m.s.__ref__, raises=AttributeError, new=lambda m: m.syn in patch.references(m.s)
    ),
    "_connections": Spec(
        lambda m: m.syn._connections,
        raises=AttributeError,
        new=lambda m: (lambda nc: nc in patch.references(m.syn))(m.s.connect_points(m.syn)),
    ),
    "__arc__": Spec(
        lambda m: (p.ExpSyn(_Duck(m.s)).get_segment().sec is m.s, p.Vector().record(_Duck(m.s)))
    ),
}

#: Rows about module attributes (``patch...``) whose meaning changed, checked beyond the
#: attribute still being there.
MODULE_ROWS: dict[str, Spec] = {
    "patch.is_point_process": Spec(
        lambda m: patch.is_point_process("ExpSyn") is False and patch.is_point_process(m.syn),
        new=lambda m: "ExpSyn" in patch.point_processes(),
    ),
}


def _is_module_row(row: GuideRow) -> bool:
    return row.names[0].startswith("patch.")


def test_the_table_mirrors_the_guide():
    rows = guide_rows()
    assert len(rows) > 80
    assert {row.fate for row in rows} <= FATES, {row.fate for row in rows} - FATES
    object_rows = {row.names[0] for row in rows if not _is_module_row(row)}
    assert object_rows == set(ROWS), (
        f"in the guide only: {sorted(object_rows - set(ROWS))}; "
        f"in ROWS only: {sorted(set(ROWS) - object_rows)}"
    )
    module_names = {name for row in rows if _is_module_row(row) for name in row.names}
    assert set(MODULE_ROWS) <= module_names


def _check_spec(spec: Spec, fate: str, m: Any) -> None:
    if spec.raises is not None:
        assert fate in RAISES | {"changed"}, fate
        with pytest.raises(spec.raises) as raised:
            spec.old(m)
        if spec.names_fate:
            assert isinstance(raised.value, PatchError)
            assert "nrn-patch 8" in str(raised.value)
    else:
        assert fate not in RAISES, f"the guide says the old spelling raises ({fate})"
        with warnings.catch_warnings():
            if fate == "same":
                warnings.simplefilter("error", DeprecationWarning)
            result = spec.old(m)
        assert result is not False, "the old spelling does not do what the guide says"
    if spec.new is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            assert spec.new(m) is not False, "the replacement does not do what the guide says"


@pytest.mark.parametrize(
    "row", [r for r in guide_rows() if not _is_module_row(r)], ids=lambda row: row.names[0]
)
def test_every_name_on_objects(row, m):
    _check_spec(ROWS[row.names[0]], row.fate, m)


@pytest.mark.parametrize(
    ("row", "index"),
    [(r, i) for r in guide_rows() if _is_module_row(r) for i in range(len(r.names))],
    ids=lambda value: value.names[0] if isinstance(value, GuideRow) else str(value),
)
def test_every_name_of_the_modules(row, index, m):
    name = row.names[index]
    # What the old name's warning or error must name: the guide's replacement, paired
    # name by name in a row of several deprecated names, else the first one ("" if none).
    spans = row.replacements
    paired = row.fate == "deprecated" and len(spans) == len(row.names)
    replacement = spans[index] if paired else (spans[0] if spans else "")
    if row.fate in ("same", "changed"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            resolve(name)
    elif row.fate == "deprecated":
        with pytest.warns(DeprecationWarning) as seen:
            value = resolve(name)
        messages = [str(w.message) for w in seen]
        assert any(name in message and replacement in message for message in messages), messages
        assert all(w.filename == __file__ for w in seen), "attributed to the line using the name"
        if _is_dotted_name(replacement):
            assert value is eval(replacement, {"patch": patch, "p": p, "neuron": neuron})
        if name.endswith(("is_section", "is_segment")):
            section = name.endswith("is_section")
            assert value(m.s) is section and value(m.s(0.5)) is not section
    elif name.startswith("patch.exceptions."):
        # patch.exceptions is Patch's own module and knows no old names: the import fails.
        with pytest.raises(AttributeError):
            resolve(name)
        if row.fate == "renamed":
            assert issubclass(resolve(replacement), PatchError)
    else:
        with pytest.raises(UnknownAttributeError) as raised:
            resolve(name)
        message = str(raised.value)
        assert name in message and "nrn-patch 8" in message and "docs/migrating.md" in message
        assert replacement in message, (replacement, message)
    if name in MODULE_ROWS:
        _check_spec(MODULE_ROWS[name], row.fate, m)


def test_importing_an_old_module_starts_nothing_and_warns_for_nothing():
    code = (
        "import sys, warnings\nwarnings.simplefilter('error')\n"
        "import patch.objects, patch.core, patch.interpreter, patch.error_handler, "
        "patch.version, patch.extensions\n"
        "print(sorted(m for m in ('neuron', 'mpi4py') if m in sys.modules))"
    )
    assert _fresh_interpreter(code) == "[]"


def test_from_patch_objects_import_section_is_patch_section():
    with pytest.warns(DeprecationWarning, match="use patch.Section instead"):
        from patch.objects import Section
    assert Section is patch.Section
    assert isinstance(p.Section(), Section)


def test_old_names_stay_out_of_dir_and_all():
    assert "h" not in dir(patch) and "NotConnectableError" not in patch.__all__
    assert not hasattr(patch, "connection")  # an AttributeError, so hasattr works
