"""Point processes from compiled mod files, loaded after import, get all of Patch's sugar."""

import os
import shutil
import subprocess
import sys

import pytest

import patch
from patch import p
from patch.exceptions import NotConnectableError, SimulatorError

# Slow (nrnivmodl builds): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

MODS = os.path.join(os.path.dirname(__file__), "data", "mods")


@pytest.fixture(scope="module")
def tickle(tmp_path_factory):
    """Compile tests/library/data/mods with nrnivmodl and load the library with p.nrn_load_dll."""
    build = tmp_path_factory.mktemp("mods")
    for name in os.listdir(MODS):
        shutil.copy(os.path.join(MODS, name), build)
    nrnivmodl = shutil.which("nrnivmodl") or os.path.join(
        os.path.dirname(sys.executable), "nrnivmodl"
    )
    subprocess.run([nrnivmodl], cwd=build, check=True, capture_output=True, timeout=300)
    library = next(build.glob("*/libnrnmech.so"))
    assert not hasattr(p, "Tickle")
    p.nrn_load_dll(str(library))
    return p.Tickle


def test_loaded_point_process_defaults_to_segment_half(tickle):
    s = p.Section()
    s.nseg = 5
    pp = p.Tickle(s, amp=0.3)
    assert isinstance(pp, patch.PointProcess)
    assert pp.get_segment().sec is s and pp.get_loc() == 0.5
    assert pp.amp == 0.3
    p.pop_section()  # get_loc() pushed the section


def test_loaded_point_process_is_a_netcon_target(tickle):
    target = p.Section().synapse(p.Tickle)
    stim = p.NetStim()
    stim.number, stim.start = 3, 1
    p.NetCon(stim, target, delay=1)  # events at 1, 11, 21 ms arrive 1 ms later
    p.run(30)
    assert target.count == 3


def test_loaded_point_process_keeps_its_section(tickle):
    import gc

    pp = p.Tickle(p.Section(name="held_by_tickle"))
    gc.collect()
    assert [s.name() for s in p.allsec()] == ["held_by_tickle"]
    assert patch.is_point_process(pp)
    del pp


def test_point_process_without_net_receive_is_refused_as_target(tickle):
    with pytest.raises(NotConnectableError):
        p.NetCon(None, p.IClamp(p.Section()))


def test_pointer_set_by_ref_assignment_reaches_neuron(tickle):
    """``pp._ref_x = ref`` sets the mechanism's POINTER, as with raw NEURON."""
    source, other = p.Section(name="source"), p.Section(name="other")
    source.L = source.diam = 12.6
    source.insert("hh")
    follower = p.Follower(other)
    follower._ref_source = source(0.5)._ref_v
    assert "__dict__" not in dir(follower) or "_ref_source" not in vars(follower)
    assert "Voltage" in repr(follower._ref_source)  # read back from NEURON, not Python
    source.iclamp(amp=1, delay=1, duration=1)
    v = source.record()
    p.run(5)
    assert follower.copy == source(0.5).v
    assert max(v) > 0


def test_unset_pointer_is_refused_before_the_run(tickle):
    follower = p.Follower(p.Section())
    with pytest.raises(
        SimulatorError, match=r"Follower\[\d+\]\.source is a POINTER that was never set"
    ):
        p.run(1)
    with pytest.raises(SimulatorError, match="never set"):
        p.finitialize(-65)
    follower._ref_source = follower.get_segment()._ref_v
    p.run(1)
    assert follower.copy == pytest.approx(-65)


def test_ref_assignment_to_a_variable_that_is_not_a_pointer(tickle):
    follower = p.Follower(p.Section())
    with pytest.raises(AttributeError, match="only a POINTER variable"):
        follower._ref_copy = follower.get_segment()._ref_v
    with pytest.raises(TypeError, match="must be set to a NEURON reference"):
        follower._ref_source = 3.0
    follower._ref_source = follower.get_segment()._ref_v  # leaves no unset pointer behind
