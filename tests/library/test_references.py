"""The referencing promise: hold one object, keep all it needs; drop all, free all."""

import gc

import pytest
from neuron import h

import patch
from patch import p


def _nothing_left():
    gc.collect()
    live = patch.live_objects()
    return not any(live.values()), live


@pytest.fixture(autouse=True)
def _clean_neuron():
    gc.collect()
    assert not any(patch.live_objects().values()), patch.live_objects()
    yield
    empty, live = _nothing_left()
    assert empty, live


def _network():
    soma = p.Section(name="soma")
    soma.insert("hh")
    soma.L = soma.diam = 20
    dend = p.Section(name="dend")
    dend.L, dend.diam = 100, 1
    dend.connect(soma)
    syn = p.ExpSyn(dend(0.8), tau=2)
    stim = p.NetStim()
    stim.number, stim.start, stim.interval = 3, 1, 10
    nc = p.NetCon(stim, syn, weight=0.05, delay=1)
    v = soma.record()
    clamp = soma.iclamp(amp=[0.1] * 10, delay=2)
    return soma, dend, syn, stim, nc, v, clamp


@pytest.mark.parametrize(
    "keep", range(7), ids=["soma", "dend", "syn", "stim", "netcon", "vector", "clamp"]
)
def test_holding_any_one_object_keeps_the_model_working(keep):
    held = _network()[keep]
    gc.collect()
    live = patch.live_objects()
    assert len(live["sections"]) == 2
    assert len(live["point_processes"]) == 3
    assert len(live["netcons"]) == 1
    p.run(30)
    soma = next(s for s in p.allsec() if s.name() == "soma")
    assert len(soma.recordings[0.5]) == len(p.time)
    assert max(soma.recordings[0.5]) > 0, "the synapse still drives the soma to fire"
    del held, soma


def test_dropping_everything_frees_everything():
    model = _network()
    p.run(5)
    del model
    empty, live = _nothing_left()
    assert empty, live


def test_netcon_keeps_source_and_target_sections_alive():
    pre = p.Section(name="pre")
    post = p.Section(name="post")
    nc = pre.connect_points(post.synapse(p.ExpSyn))
    del pre, post
    gc.collect()
    assert sorted(s.name() for s in p.allsec()) == ["post", "pre"]
    assert nc.preseg().sec.name() == "pre"
    assert nc.syn().get_segment().sec.name() == "post"


def test_section_keeps_its_point_processes_and_recordings():
    s = p.Section()
    p.ExpSyn(s)
    s.record(0.3)
    p.Vector().record(s(0.7))
    gc.collect()
    assert len(patch.live_objects()["point_processes"]) == 1
    assert len(patch.references(s)) == 3


def test_children_keep_parents_and_parents_keep_children():
    root = p.Section(name="root")
    leaf = root
    for i in range(5):
        nxt = p.Section(name=f"n{i}")
        nxt.connect(leaf)
        leaf = nxt
    del root
    gc.collect()
    assert len(list(p.allsec())) == 6
    top = leaf
    while top.parentseg() is not None:
        top = top.parentseg().sec
    assert top.name() == "root"
    del leaf, top, nxt
    gc.collect()
    assert list(p.allsec()) == []


def test_sections_freed_one_component_at_a_time():
    a = p.Section(name="a")
    b = p.Section(name="b")
    p.ExpSyn(a)
    p.ExpSyn(b)
    del a
    gc.collect()
    live = patch.live_objects()
    assert [s for s in live["sections"]] == ["b"]
    assert len(live["point_processes"]) == 1
    del b


def test_many_graphs_built_and_dropped():
    for _ in range(50):
        _network()
    empty, live = _nothing_left()
    assert empty, live


def test_sectionref_keeps_section():
    ref = p.SectionRef(p.Section(name="held"))
    gc.collect()
    assert ref.sec.name() == "held"


@pytest.mark.parametrize("where", ["patch", "raw"])
def test_neuron_hands_back_the_one_wrapper_of_a_synapse_on_any_section(where):
    # The segment's section is read through nrn.Segment's own descriptors: a raw
    # Section's segment gives the same wrapper back too.
    section = p.Section() if where == "patch" else h.Section()
    section.nseg = 5
    syn = p.ExpSyn(section(0.3))
    assert syn.get_segment().x == pytest.approx(0.3)
    assert syn.get_segment().sec.same(section)
    raw_netcon = h.NetCon(None, syn)
    assert p.NetCon(None, syn).syn() is syn
    assert h.List("ExpSyn").count() == 1
    del raw_netcon, syn, section  # a Patch section keeps its synapse: dropped as well
    gc.collect()
    assert h.List("ExpSyn").count() == 0, "the wrapper is freed with what held it"


def _tracked_per_call(make, n=200):
    """How many objects Python's cyclic collector tracks per ``make()`` kept alive."""
    make()  # first use: classes and caches are made
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        kept = []
        for _ in range(n):
            kept.append(make())
        tracked = len(gc.get_objects()) - before - 1  # the list
    finally:
        gc.enable()
    del kept
    return tracked / n


def test_a_point_process_is_one_object_for_the_garbage_collector():
    # The collector runs after every few hundred tracked objects are made: each extra one
    # per synapse makes a model that builds thousands pay for more collections. Its one
    # edge (to its section) needs no set, and the registry behind nc.syn() no weak
    # reference.
    section = p.Section()
    assert _tracked_per_call(lambda: p.ExpSyn(section(0.5))) == 1
    assert _tracked_per_call(lambda: p.ExpSyn(section)) == 1
    assert _tracked_per_call(p.NetStim) == 1


def test_a_connected_synapse_costs_the_collector_three_objects():
    # The synapse, stimulus and NetCon, and no container: the synapse's two edges
    # (section, NetCon) and the NetCon's two (synapse, stimulus) fit its two slots.
    section = p.Section()

    def connected():
        synapse = p.ExpSyn(section)
        stimulus = p.NetStim()
        return p.NetCon(stimulus, synapse)

    assert _tracked_per_call(connected) == 3


def test_a_subclass_with_its_own_finalizer_is_handed_back_and_freed():
    # A subclass whose __del__ replaces Patch's is registered through a weak reference:
    # nc.syn() still gives it back, and once it is freed NEURON's object is no longer
    # mistaken for it.
    freed = []

    class Counted(p.ExpSyn):
        __slots__ = ()

        def __del__(self):
            freed.append(True)

    section = p.Section()
    synapse = Counted(section(0.5))
    netcon = h.NetCon(None, synapse)
    assert p.NetCon(None, synapse).syn() is synapse
    del synapse, section
    gc.collect()
    assert freed == [True]
    assert h.List("ExpSyn").count() == 0
    assert netcon.syn() is None


def test_edges_beyond_two_slots_and_moves_keep_what_they_should():
    # A synapse holds its section and one NetCon in its slots; a second NetCon makes a
    # set; moving it to another section or dropping its section keeps the rest.
    a, b = p.Section(name="a"), p.Section(name="b")
    synapse = p.ExpSyn(a(0.5))
    assert patch.references(synapse) == {a}
    first = p.NetCon(None, synapse)
    assert patch.references(synapse) == {a, first}
    synapse.loc(b(0.5))
    assert patch.references(synapse) == {b, first}
    assert synapse not in patch.references(a)
    second = p.NetCon(p.NetStim(), synapse)
    assert patch.references(synapse) == {b, first, second}
    synapse.loc(a(0.5))
    assert patch.references(synapse) == {a, first, second}
    stimulus = second.pre()
    assert patch.references(second) == {synapse, stimulus}
    assert patch.references(stimulus) == {second}
    del first, second, stimulus, b
    gc.collect()
    assert h.List("NetCon").count() == 2, "the synapse holds both NetCons"
    del synapse
    gc.collect()
    assert h.List("NetCon").count() == 2, "the section holds the synapse"
    del a
    gc.collect()
    assert h.List("NetCon").count() == 0
    assert h.List("ExpSyn").count() == 0
    assert h.List("NetStim").count() == 0
