"""The hypothesis strategies of ``pytest_patch.strategies``: what they draw, build and reject."""

from __future__ import annotations

import gc
import math
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from collections import Counter

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings, strategies as st, target
from hypothesis.errors import InvalidArgument

import patch
from patch import SPIKE_DTYPE, NetCon, Section, Vector, p
from pytest_patch import assert_all, assert_spikes_equal, check_broadcast_roundtrip
from pytest_patch.strategies import (
    BUILTIN_POINT_PROCESSES,
    NEURON_POINT_PROCESSES,
    Morphology,
    Network,
    NetworkSpec,
    SectionSpec,
    morphologies,
    morphology_specs,
    network_specs,
    networks,
    picklable,
    point_processes,
    section_specs,
    sections,
)

# Under mpiexec every rank must draw the same examples and fail the same way: fixed
# seed, no example database, and nothing timing-dependent.
same_on_every_rank = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
)


# find() with a fixed seed and no example database, so shrinking tests are repeatable.
_search = settings(database=None, derandomize=True, max_examples=1000)


def _section_ids(section: Section) -> set[int]:
    return {id(s) for s in section.wholetree()}


# -- sections ---------------------------------------------------------------------------------
@given(section_specs(min_length=2.0, max_length=300.0, max_diam=4.0, max_nseg=5, points=None))
def test_section_specs_build_what_they_describe(spec: SectionSpec) -> None:
    section = spec.build()
    assert isinstance(section, Section)
    assert section.nseg == spec.nseg and spec.nseg % 2 == 1 and spec.nseg <= 5
    assert 2.0 <= spec.L <= 300.0 and spec.diam <= 4.0
    assert section.L == pytest.approx(spec.L, rel=1e-6)
    assert section.n3d() == len(spec.points)
    if spec.points:
        assert section(0.5).diam == pytest.approx(spec.diam)
    else:
        assert section.diam == pytest.approx(spec.diam)


@given(sections(max_length=50.0, name="dend"))
def test_sections_are_patch_sections_in_neuron(section: Section) -> None:
    assert section.name() == "dend"
    assert any(s is section for s in p.allsec())
    assert 1.0 <= section.L <= 50.0


def test_sections_shrink_to_the_smallest_section() -> None:
    spec = find(section_specs(points=None), lambda spec: spec.L > 10, settings=_search)
    assert spec.nseg == 1 and spec.points == ()
    assert spec.L <= 11.0 and float(spec.diam).is_integer()  # round numbers read best
    assert repr(spec).startswith("SectionSpec(L=")
    assert "points" not in repr(spec)


# -- morphologies -----------------------------------------------------------------------------
@given(morphologies(max_sections=6, points=None, prefix="n."))
def test_morphologies_are_connected_trees(morphology: Morphology) -> None:
    spec = morphology.description
    built = morphology.sections
    assert len(built) == len(spec.sections) and built[0] is morphology.root
    assert morphology.root.parentseg() is None
    for index, section in enumerate(built[1:], start=1):
        parent = section.parentseg()
        assert parent.sec is built[spec.parents[index]]
        assert parent.x == pytest.approx(spec.positions[index])
        assert spec.parents[index] < index
    assert _section_ids(morphology.root) == {id(s) for s in built}
    assert [s.name() for s in built] == ["n.soma"] + [f"n.dend[{i}]" for i in range(len(built) - 1)]
    assert 5 * (1 - 1e-6) <= morphology.root.L <= 40 * (1 + 1e-6)  # 3D points are rounded
    assert repr(morphology).startswith("Morphology(MorphologySpec(")


def test_holding_one_section_of_a_morphology_keeps_the_tree() -> None:
    def live() -> Counter[str]:
        gc.collect()
        return Counter(patch.live_objects()["sections"])

    before = live()
    morphology = find(
        morphologies(min_sections=4, prefix="kept."), lambda m: True, settings=_search
    )
    names = Counter(s.name() for s in morphology.sections)
    leaf = morphology.sections[-1]
    del morphology
    assert live() - before == names
    assert Counter(s.name() for s in leaf.wholetree()) == names
    del leaf
    assert live() - before == Counter()


def test_morphologies_shrink_to_a_soma_and_few_dendrites() -> None:
    morphology = find(morphologies(), lambda m: len(m.sections) >= 3, settings=_search)
    spec = morphology.description
    assert 3 <= len(spec.sections) <= 4  # shrinking is greedy, not always minimal
    assert set(spec.parents[1:]) == {0} and set(spec.positions[1:]) == {1.0}
    assert all(s.nseg == 1 and s.points == () for s in spec.sections)


# -- point processes --------------------------------------------------------------------------
@given(point_processes(sections(max_length=20.0)))
def test_point_processes_sit_on_their_section(point: object) -> None:
    assert patch.is_point_process(point)
    name = type(point).__name__
    # A built-in synapse or clamp, or a point process of a mod loaded by an earlier test.
    assert name in BUILTIN_POINT_PROCESSES or name not in NEURON_POINT_PROCESSES
    assert point.has_loc()
    section = point.get_segment().sec
    assert isinstance(section, Section) and section.L <= 20.0


@given(st.data())
def test_point_processes_on_a_given_section(data: st.DataObject) -> None:
    section = p.Section(name="target")
    point = data.draw(point_processes(section, names=["ExpSyn", "IClamp"]))
    assert point.get_segment().sec is section
    assert type(point).__name__ in ("ExpSyn", "IClamp")


def test_point_processes_make_artificial_cells_without_a_section() -> None:
    stim = find(point_processes(names=["NetStim"]), lambda point: True, settings=_search)
    assert type(stim).__name__ == "NetStim"


def test_point_processes_reject_names_neuron_does_not_know() -> None:
    with pytest.raises(InvalidArgument, match="NoSuchSynapse"):
        find(point_processes(names=["NoSuchSynapse"]), lambda point: True, settings=_search)


def test_point_processes_find_mechanisms_loaded_after_the_strategy_was_made(tmp_path) -> None:
    """A mod loaded after ``point_processes()`` was created is drawn (MechanismType at draw time)."""
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "tick.mod").write_text(
        "NEURON { POINT_PROCESS Tick RANGE count }\n"
        "ASSIGNED { count }\nINITIAL { count = 0 }\nNET_RECEIVE (w) { count = count + 1 }\n"
    )
    nrnivmodl = shutil.which("nrnivmodl", path=os.path.dirname(sys.executable)) or "nrnivmodl"
    script = textwrap.dedent(
        f"""
        import glob, subprocess
        from hypothesis import find
        from patch import p
        from pytest_patch.strategies import point_processes
        strategy = point_processes()
        subprocess.run([{nrnivmodl!r}, "."], cwd={str(mod)!r}, check=True, capture_output=True)
        p.nrn_load_dll(glob.glob({str(mod)!r} + "/*/libnrnmech.so")[0])
        tick = find(strategy, lambda point: type(point).__name__ == "Tick")
        print("drew", tick, "on", tick.get_segment())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "drew Tick[" in result.stdout


# -- networks ---------------------------------------------------------------------------------
def _run_and_record(network: Network, duration: float) -> np.ndarray:
    """Spikes of every cell's soma (gid = cell index) in a serial network."""
    vectors = {}
    for index, cell in network.cells.items():
        vectors[index] = Vector()
        NetCon(cell.root, None, threshold=-20.0).record(vectors[index])
    p.run(duration)
    parts = [np.array([(i, t, 0) for t in v], dtype=SPIKE_DTYPE) for i, v in vectors.items()]
    return np.concatenate(parts) if parts else np.empty(0, dtype=SPIKE_DTYPE)


@settings(max_examples=10)
@given(networks(max_cells=3))
def test_networks_build_their_description(network: Network) -> None:
    spec = network.description
    assert sorted(network.cells) == list(range(len(spec.cells)))
    assert len(network.synapses) == len(spec.synapses)
    assert len(network.stimuli) == len(spec.stimuli)
    assert len(network.netcons) == len(spec.stimuli) + len(spec.connections)
    for netcon, stim in zip(network.netcons, spec.stimuli, strict=False):
        assert netcon.pre() is network.stimuli[spec.stimuli.index(stim)]
        assert netcon.syn() is network.synapses[stim.synapse]
        assert netcon.delay == pytest.approx(stim.delay)
        assert netcon.weight[0] == pytest.approx(stim.weight)
    for netcon, con in zip(network.netcons[len(spec.stimuli) :], spec.connections, strict=False):
        assert netcon.preseg().sec is network.cells[con.source].root
        assert netcon.syn() is network.synapses[con.synapse]
        assert netcon.delay == pytest.approx(con.delay) and netcon.weight[0] == pytest.approx(
            con.weight
        )
        assert netcon.valid()
    assert repr(network).startswith("Network(NetworkSpec(")


@settings(_search, max_examples=150)
@given(network_specs(max_cells=4, max_sections=3, max_synapses=3))
def test_network_specs_refer_only_to_what_they_drew(spec: NetworkSpec) -> None:
    # The strategies behind a description are kept per cell count, section count and
    # synapse count: each must be the one for this description.
    cells = len(spec.cells)
    for i, cell in enumerate(spec.cells):
        assert all(section.name.startswith(f"cell{i}.") for section in cell.sections)
    assert [syn.cell for syn in spec.synapses] == sorted(syn.cell for syn in spec.synapses)
    assert {syn.cell for syn in spec.synapses} == set(range(cells))
    for syn in spec.synapses:
        assert 0 <= syn.section < len(spec.cells[syn.cell].sections)
    assert all(0 <= stim.synapse < len(spec.synapses) for stim in spec.stimuli)
    for con in spec.connections:
        assert 0 <= con.source < cells and 0 <= con.synapse < len(spec.synapses)


def _drawn(strategy: st.SearchStrategy, seed: int = 0) -> list:
    """The first 40 examples ``strategy`` draws from ``seed``."""
    examples: list = []

    @hypothesis.seed(seed)
    @settings(database=None, max_examples=40, phases=[Phase.generate])
    @given(strategy)
    def collect(example: object) -> None:
        examples.append(example)

    collect()
    return examples


def test_strategies_draw_the_same_examples_whatever_they_drew_before() -> None:
    # Strategies with the same numbers share what they build: one may not change another's
    # examples, nor what the same one draws next. (The numbers are used by no other test.)
    morphologies = _drawn(morphology_specs(max_sections=4, max_nseg=7, points=None, prefix="m."))
    other = _drawn(morphology_specs(max_sections=4, max_nseg=7, points=True, prefix="other."))
    assert all(s.name.startswith("other.") and s.points for spec in other for s in spec.sections)
    # points=None: each tree has 3D points in all its sections or in none, and both occur.
    assert all(len({bool(s.points) for s in spec.sections}) == 1 for spec in morphologies)
    assert {bool(spec.sections[0].points) for spec in morphologies} == {True, False}
    again = _drawn(morphology_specs(max_sections=4, max_nseg=7, points=None, prefix="m."))
    assert again == morphologies

    def networks() -> st.SearchStrategy:
        return network_specs(max_cells=3, max_synapses=3, max_stimuli=4)

    first = _drawn(networks())
    for seed in range(1, 6):
        _drawn(networks(), seed)
    assert _drawn(networks()) == first


@pytest.mark.slow
def test_networks_shrink_to_one_small_cell() -> None:
    specs = network_specs(max_cells=3, max_stimuli=2, max_connections=3)
    spec = find(specs, lambda spec: len(spec.connections) >= 1, settings=_search)
    assert len(spec.cells) == 1 and len(spec.cells[0].sections) == 1
    assert len(spec.synapses) == 1 and spec.stimuli == ()
    assert spec.connections[0].delay == 1.0 and spec.connections[0].weight == 0.0


def _check_parallel_network(spec: NetworkSpec, duration: float = 40.0) -> None:
    """Build ``spec`` over the ranks with ParallelCon, then whole on each rank: same spikes.

    Collective and safe: every rank makes the same calls and all fail together.
    """
    assert_all(p.parallel.broadcast(spec, root=0) == spec, "ranks drew different networks")
    network = spec.build(parallel=True)
    recorder = p.parallel.record_spikes()
    p.run(duration)
    parallel_spikes = recorder.gather()
    target(float(len(parallel_spikes)), label="spikes")  # steer towards networks that spike
    local = sorted(network.cells)
    del network, recorder
    p.parallel.gid_clear()
    gc.collect()
    expected = _run_and_record(spec.build(parallel=False), duration)
    size = p.parallel.size
    problem = None
    if local != [i for i in range(len(spec.cells)) if i % size == p.parallel.rank]:
        problem = f"this rank built cells {local}"
    try:
        assert_spikes_equal(parallel_spikes, expected, atol=1e-6)
    except AssertionError as error:
        problem = f"ParallelCon network differs from the NetCon network: {error}"
    gc.collect()
    assert_all(problem is None, str(problem))


@settings(same_on_every_rank, max_examples=8)
@given(network_specs(max_cells=3, max_sections=2))
def test_parallel_networks_spike_like_serial_ones(spec: NetworkSpec) -> None:
    _check_parallel_network(spec)


@pytest.mark.mpi(min_size=2)
@settings(same_on_every_rank, max_examples=15)
@given(network_specs(min_cells=2, max_cells=4, max_sections=2))
def test_parallel_networks_spike_like_serial_ones_over_ranks(spec: NetworkSpec) -> None:
    _check_parallel_network(spec)


# -- picklable payloads -----------------------------------------------------------------------
@given(picklable())
def test_picklable_payloads_survive_a_broadcast(payload: object) -> None:
    check_broadcast_roundtrip(payload)
    assert pickle.loads(pickle.dumps(payload)) is not None or payload is None


def _leaves(payload: object) -> list[object]:
    if isinstance(payload, dict):
        return [leaf for value in payload.values() for leaf in _leaves(value)]
    if isinstance(payload, (list, tuple)):
        return [leaf for value in payload for leaf in _leaves(value)]
    return [payload]


def _has_array(payload: object, dtype: str, nbytes: int = 0) -> bool:
    return any(
        isinstance(leaf, np.ndarray) and leaf.dtype == dtype and leaf.nbytes >= nbytes
        for leaf in _leaves(payload)
    )


def test_picklable_draws_big_arrays_of_several_dtypes() -> None:
    seen: set[str] = set()
    big: list[int] = []

    @settings(max_examples=400, phases=[Phase.generate], database=None, derandomize=True)
    @given(picklable())
    def draw(payload: object) -> None:
        for leaf in _leaves(payload):
            if isinstance(leaf, np.ndarray):
                seen.add(str(leaf.dtype))
                if leaf.nbytes > 1 << 16:
                    big.append(leaf.nbytes)

    draw()
    assert seen >= {"float64", "float32", "int64", "int32", "uint8", "bool", "complex128"}
    assert big, "no array big enough to travel out of band"


@pytest.mark.slow
def test_picklable_shrinks_nested_payloads() -> None:
    def nested_tuple(x: object) -> bool:
        return isinstance(x, dict) and any(isinstance(v, tuple) for v in x.values())

    nested = find(picklable(), nested_tuple, settings=_search)
    assert nested == {"": (None, None)}
    found = find(picklable(), lambda x: _has_array(x, "int32"), settings=_search)
    assert isinstance(found, np.ndarray) and found.size <= 1


def test_picklable_shrinks_to_none() -> None:
    assert find(picklable(), lambda x: True, settings=_search) is None


@pytest.mark.mpi(min_size=2)
@settings(same_on_every_rank, max_examples=25)
@given(picklable(max_array_bytes=400_000))
def test_picklable_payloads_broadcast_from_every_root(payload: object) -> None:
    check_broadcast_roundtrip(payload)


# -- composition and validation ---------------------------------------------------------------
@given(
    st.builds(
        lambda s, m: (s.L, len(m.sections)), sections(max_length=10.0), morphologies(max_sections=2)
    ),
    sections().map(lambda s: s.nseg).filter(lambda n: n > 1),
    picklable().filter(lambda x: isinstance(x, list)),
)
def test_strategies_compose(lengths: tuple[float, int], nseg: int, payload: list) -> None:
    assert lengths[0] <= 10.0 and 1 <= lengths[1] <= 2
    assert nseg % 2 == 1 and nseg > 1
    assert isinstance(payload, list)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: sections(max_length=-1), "max_length"),
        (lambda: sections(min_length=5, max_length=1), "min_length"),
        (lambda: sections(min_diam=math.nan), "min_diam"),
        (lambda: sections(max_nseg=0), "max_nseg"),
        (lambda: sections(points="yes"), "points"),
        (lambda: sections(name=""), "name"),
        (lambda: morphologies(min_sections=0), "min_sections"),
        (lambda: morphologies(min_sections=3, max_sections=2), "min_sections"),
        (lambda: morphologies(max_length="long"), "max_length"),
        (lambda: morphology_specs(max_nseg=1.5), "max_nseg"),
        (lambda: point_processes(names="ExpSyn"), "names"),
        (lambda: point_processes(names=[]), "names"),
        (lambda: point_processes(on=3), "on"),
        (lambda: networks(max_cells=0), "max_cells"),
        (lambda: networks(min_cells=3, max_cells=2), "min_cells"),
        (lambda: networks(parallel=1), "parallel"),
        (lambda: network_specs(max_stimuli=-1), "max_stimuli"),
        (lambda: picklable(max_leaves=0), "max_leaves"),
        (lambda: picklable(max_array_bytes=True), "max_array_bytes"),
    ],
)
def test_bad_arguments_are_invalid_and_named(make, argument: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{argument}="):
        make()


@pytest.mark.parametrize("module", ["strategies", "lifetime"])
def test_strategy_modules_import_no_pytest_and_only_public_patch(module: str) -> None:
    import ast
    from pathlib import Path

    import pytest_patch

    source = (Path(pytest_patch.__file__).parent / f"{module}.py").read_text()
    imported = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.append(node.module)
    assert not [name for name in imported if name.split(".")[0] == "pytest"]
    assert [name for name in imported if name.startswith("patch")] == ["patch"]
