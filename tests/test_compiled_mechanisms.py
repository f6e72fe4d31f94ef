"""Point processes from compiled mod files, loaded after import, get all of Patch's sugar."""

import os
import shutil
import subprocess
import sys

import pytest

import patch
from patch import p
from patch.exceptions import NotConnectableError

MODS = os.path.join(os.path.dirname(__file__), "data", "mods")


@pytest.fixture(scope="module")
def tickle(tmp_path_factory):
    """Compile tests/data/mods with nrnivmodl and load the library with p.nrn_load_dll."""
    build = tmp_path_factory.mktemp("mods")
    shutil.copy(os.path.join(MODS, "tickle.mod"), build)
    nrnivmodl = shutil.which("nrnivmodl") or os.path.join(os.path.dirname(sys.executable), "nrnivmodl")
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
    p.pop_section()


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
