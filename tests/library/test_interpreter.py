"""``p`` is a drop-in for ``neuron.h``: same attributes, same objects, same results."""

import json
import os
import subprocess
import sys

import pytest
from neuron import h

import patch
from patch import p
from patch.exceptions import DeletedSectionError, HocError, PatchError

DATA = os.path.join(os.path.dirname(__file__), "data")


def _run_script(interpreter, cvode):
    out = subprocess.run(
        [sys.executable, os.path.join(DATA, "hoc_model.py"), interpreter, str(cvode)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("cvode", [0, 1], ids=["fixed-step", "cvode"])
def test_hoc_model_script_runs_unchanged_with_patch(cvode):
    """A script using templates, load_file, Random, cvode and ParallelContext."""
    raw = _run_script("neuron", cvode)
    wrapped = _run_script("patch", cvode)
    assert sum(len(spikes) for spikes in raw["spikes"]) > 3
    assert wrapped == raw


def test_import_changes_no_simulation_parameter():
    code = (
        "from neuron import h; before = (h.celsius, h.dt, h.secondorder, h.t); "
        "import patch; from patch import p; p.Section(); "
        "after = (h.celsius, h.dt, h.secondorder, h.t); "
        "h.load_file('stdrun.hoc'); print(before == after, h.v_init, h.celsius)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "-65.0", "6.3"]


def test_every_h_attribute_reachable():
    for name in (
        "dt",
        "t",
        "celsius",
        "secondorder",
        "finitialize",
        "fadvance",
        "allsec",
        "Vector",
        "List",
        "Random",
        "CVode",
        "hh",
        "pas",
        "load_file",
        "ExpSyn",
    ):
        assert hasattr(p, name), name
    assert p.dt == h.dt


def test_every_h_name_answers_the_same_through_p():
    """Each public name of ``h``: the same scalar, or the same error, through ``p``."""
    names = [name for name in dir(h) if not name.startswith("_")]
    assert len(names) > 300
    for name in names:
        if h.name_declared(name) == 3 and not h.section_exists(name):
            # An earlier test's deleted hoc section: raw h aborts on its name, p refuses it.
            with pytest.raises(DeletedSectionError):
                getattr(p, name)
            continue
        try:
            raw = getattr(h, name)
        except Exception as error:  # keywords and range variables without a section
            with pytest.raises(type(error)):
                getattr(p, name)
            continue
        wrapped = getattr(p, name)
        if isinstance(raw, (int, float, str)):
            assert wrapped == raw, name
        else:
            assert callable(wrapped) or type(wrapped) is type(raw), name


def test_the_name_of_a_deleted_hoc_section_is_refused_not_an_abort():
    """Raw NEURON aborts the process on ``h.name`` once hoc's section ``name`` is deleted."""
    h("create patch_gone, patch_some[3]")
    h.delete_section(sec=h.patch_gone)
    with pytest.raises(
        DeletedSectionError, match=r"p.patch_gone: the hoc section patch_gone was deleted"
    ):
        p.patch_gone
    h.delete_section(sec=h.patch_some[0])
    assert p.patch_some[1].name() == "patch_some[1]"  # an array's live elements stay reachable
    for i in (1, 2):
        h.delete_section(sec=h.patch_some[i])
    with pytest.raises(DeletedSectionError):
        p.patch_some


def test_scalars_write_through_to_h():
    old = h.celsius
    try:
        p.celsius = 37.5
        assert h.celsius == 37.5
    finally:
        p.celsius = old


def test_hoc_statements_and_variables():
    p("double patch_test_array[3]")
    p.patch_test_array[1] = 4
    assert h.patch_test_array[1] == 4


def test_patch_objects_are_neuron_objects():
    s = p.Section()
    v = p.Vector([1, 2, 3])
    assert patch.transform(s) is s and s.__neuron__() is s
    assert v.__neuron__() is v
    raw = h.Vector()
    raw.copy(v)  # a Patch object straight into a raw NEURON call
    assert list(raw) == [1, 2, 3]
    syn = h.ExpSyn(s(0.3))  # a Patch section into raw h
    assert syn.get_segment().sec is s


def test_raw_objects_pass_through():
    raw_section = h.Section(name="raw")
    assert patch.transform(raw_section) is raw_section
    syn = p.ExpSyn(raw_section)
    assert syn.get_segment().sec == raw_section


def test_duck_typed_objects():
    class Cell:
        def __init__(self):
            self.soma = p.Section(name="duck_soma")

        def __neuron__(self):
            return self.soma

    class Spot:
        def __init__(self, cell, x):
            self.cell, self.x = cell, x

        def __neuron__(self):
            return self.cell.soma

        def __arc__(self):
            return self.x

    class Probe:
        def __init__(self, seg):
            self.seg = seg

        def __record__(self):
            return self.seg._ref_v

        def __netcon__(self):
            return self.seg

    cell = Cell()
    cell.soma.nseg = 5
    assert patch.transform(cell) is cell.soma
    syn = p.ExpSyn(cell)
    assert syn.get_segment().sec is cell.soma
    syn2 = p.ExpSyn(Spot(cell, 0.9))
    assert syn2.get_loc() == pytest.approx(0.9)
    h.pop_section()  # get_loc() pushed the section
    v = p.Vector().record(Probe(cell.soma(0.1)))
    nc = p.NetCon(Probe(cell.soma(0.1)), syn)
    assert nc.preseg().sec is cell.soma
    p.run(1)
    assert len(v) == len(p.time)


def test_one_wrapper_per_object():
    s = p.Section(name="one")
    child = p.Section(name="child")
    child.connect(s)
    s.push()
    try:
        assert p.cas() is s
    finally:
        s.pop()
    assert child.parentseg().sec is s
    assert any(sec is s for sec in p.allsec())
    assert s(0.5).sec is s
    assert p.SectionRef(child).parent is s
    syn = p.ExpSyn(s)
    stim = p.NetStim()
    nc = p.NetCon(stim, syn)
    assert nc.syn() is syn and nc.pre() is stim


WRAPPER_MODULE = """
from patch import _graph
from patch._boot import hoc
from patch._hoc import HocObject


class StringFunctions(HocObject, hoc.StringFunctions):
    __slots__ = ("_refs", "__weakref__")

    def __init__(self, *args):
        self._setup()


_graph.register_class(StringFunctions)
"""

USES_THE_WRAPPER = """
import sys

import patch
from patch import p
from patch._public import public_names
from patch._vector import Vector

# As if the module were in the package, with its line in __init__.pyi.
patch.__path__.append(sys.argv[1])
public_names()["StringFunctions"] = "_stringfunctions"
assert "patch._stringfunctions" not in sys.modules


class UserVector(Vector):
    pass


made = p.StringFunctions()
wrapper = sys.modules["patch._stringfunctions"].StringFunctions
assert p.StringFunctions is wrapper and type(made) is wrapper, p.StringFunctions
assert p.Vector is Vector and type(UserVector()) is UserVector
assert p.List.__mro__[1].__name__ == "_GenericHocObject"
print("ok")
"""


def test_a_new_wrapper_of_a_neuron_class_is_what_p_gives_for_it(tmp_path):
    # A wrapper's module and its line in the table of public names are all it takes: p
    # imports the module when the class is first used. A subclass of a wrapper (a user's)
    # does not take its place.
    (tmp_path / "_stringfunctions.py").write_text(WRAPPER_MODULE)
    out = subprocess.run(
        [sys.executable, "-c", USES_THE_WRAPPER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_parallel_context_is_one_object():
    assert p.ParallelContext() is p.parallel
    assert p.parallel.nhost() == h.ParallelContext().nhost()


def test_vector_indexing_iteration_numpy():
    import numpy as np

    v = p.Vector([1.0, 2.0, 3.0])
    assert v[1] == 2.0 and list(v) == [1.0, 2.0, 3.0] and len(v) == 3
    v[0] = 5
    assert np.array_equal(np.asarray(v), [5.0, 2.0, 3.0])
    assert np.array_equal(v.as_numpy(), [5.0, 2.0, 3.0])
    assert isinstance(p.Vector(np.arange(4.0)), patch.Vector)


def test_hoc_error_becomes_python_exception():
    with pytest.raises(HocError, match="load_file"):
        p.load_file("no_such_file_anywhere.hoc")
    with pytest.raises(HocError):
        p.load_file("")
    with pytest.raises(HocError):
        p("this is not hoc")
    assert isinstance(HocError("x"), PatchError) and isinstance(HocError("x"), RuntimeError)


def test_netcon_keyword_arguments():
    s = p.Section()
    syn = p.ExpSyn(p.Section())
    nc = p.NetCon(s, syn, weight=0.3, delay=2.5, threshold=-20)
    assert (nc.weight[0], nc.delay, nc.threshold) == (0.3, 2.5, -20)


def test_vclamp():
    s = p.Section()
    s.L = s.diam = 10
    s.insert("pas")
    clamp = s.vclamp(voltage=[-70, -20, -70], duration=[2, 3, 2])
    i = p.Vector().record(clamp._ref_i)
    v = s.record()
    p.run(7)
    assert isinstance(clamp, patch.PointProcess)
    assert max(v) == pytest.approx(-20, abs=1)
    assert len(i) == len(v)


def test_run_a_network_without_sections():
    """Artificial cells only: NEURON has no section to tie a time recording to."""
    stim = p.NetStim()
    stim.number, stim.start, stim.interval = 3, 1, 2
    cell = p.IntFire1()
    times = p.Vector()
    p.NetCon(stim, cell, weight=2).record(times)
    p.run(10)
    assert list(times) == pytest.approx([1, 3, 5])
    assert len(p.time) == 0
