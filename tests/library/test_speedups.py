"""The optional compiled attribute access (``patch/_speedups.c``) and its pure-Python twin.

The compiled module is built at installation where a C compiler is; ``PATCH_PURE_PYTHON=1``
keeps Patch on its Python code. Both must behave alike: the tests here compare what the
two say in fresh processes, and the rest of ``tests/library`` passes under either.
"""

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from neuron import h

import patch
from patch import p
from patch._hoc import COMPILED
from patch._netcon import NetCon
from patch._point_process import PointProcess
from patch.exceptions import UnknownAttributeError

PURE = os.environ.get("PATCH_PURE_PYTHON", "") not in ("", "0")


def _can_compile() -> bool:
    """Whether this interpreter's C compiler and headers are here (then it was built)."""
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return bool(compiler) and shutil.which(compiler[0]) is not None and headers.exists()


def test_the_compiled_module_is_built_where_a_compiler_is():
    if not _can_compile():
        pytest.skip("no C compiler or Python headers: the installation leaves it out")
    assert importlib.util.find_spec("patch._speedups") is not None, (
        "patch._speedups was not built: `pip install -e .` (or `pip install .`) builds it"
    )
    assert COMPILED is not PURE


def test_the_attribute_slots_are_the_compiled_ones_unless_pure_python_is_asked_for():
    stimulus, synapse = p.NetStim(), p.ExpSyn(p.Section())
    netcon = p.NetCon(stimulus, synapse)

    class Mine(p.ExpSyn):  # a user's subclass inherits the slots
        pass

    class Traced(p.ExpSyn):  # ... or puts its own in front of them
        __slots__ = ()
        seen: list[str] = []

        def __setattr__(self, name, value):
            Traced.seen.append(name)
            super().__setattr__(name, value)

    if COMPILED:
        from patch import _speedups

        both = {"_python_setattr", "_python_getattr"}
        assert _speedups.compiled_slots(type(stimulus)) == both
        assert _speedups.compiled_slots(type(synapse)) == both
        assert _speedups.compiled_slots(Mine) == both
        assert _speedups.compiled_slots(NetCon) == {"_python_setattr"}
        assert _speedups.compiled_slots(Traced) == {"_python_getattr"}
        # The Python methods moved aside, where the C code calls them.
        assert "__setattr__" not in vars(PointProcess) and "__getattr__" not in vars(PointProcess)
        assert "__setattr__" not in vars(NetCon)
    else:
        assert "__setattr__" in vars(PointProcess) and "__getattr__" in vars(PointProcess)
        assert "__setattr__" in vars(NetCon)
        if importlib.util.find_spec("patch._speedups") is not None:
            from patch import _speedups

            assert _speedups.compiled_slots(type(stimulus)) == frozenset()
            assert _speedups.compiled_slots(NetCon) == frozenset()
    # Either way, the values reach NEURON and the Python code still runs where it should.
    stimulus.start, synapse.tau, netcon.delay = 7, 3, 2
    h('objref patch_test_speedups_\npatch_test_speedups_ = new List("NetStim")')
    h("patch_test_speedups_x_ = patch_test_speedups_.o(0).start")  # read by hoc itself
    assert h.patch_test_speedups_x_ == 7 == stimulus.start
    assert (synapse.tau, netcon.delay) == (3, 2)
    mine = Mine(p.Section())
    mine.tau = 4
    assert mine.tau == 4
    with pytest.raises(UnknownAttributeError, match="Did you mean tau"):
        mine.tua = 4
    traced = Traced(p.Section())
    traced.tau = 5
    assert traced.tau == 5 and Traced.seen == ["tau"]
    with pytest.raises(UnknownAttributeError):
        traced.tua = 5
    h("objref patch_test_speedups_")


@pytest.mark.parametrize("pure", ["", "1"], ids=["compiled", "pure Python"])
def test_refused_sets_do_not_wear_out_neuron(pure, monkeypatch, run_isolated):
    # NEURON leaves an entry on its interpreter's stack for every variable set it refuses:
    # about a thousand ended the process ("Stack too deep"). Patch refuses those values
    # before NEURON sees them, on both paths.
    monkeypatch.setenv("PATCH_PURE_PYTHON", pure)
    said = run_isolated(
        """
        section = p.Section()
        stimulus = p.NetStim()
        netcon = p.NetCon(stimulus, p.ExpSyn(section))
        for value in ("x", None, [1.0]):
            for _ in range(1000):
                for target, name in ((stimulus, "start"), (netcon, "delay"), (netcon, "threshold")):
                    try:
                        setattr(target, name, value)
                    except ArgumentError:
                        pass
                try:
                    p.ExpSyn(section, tau=value)
                except ArgumentError:
                    pass
        stimulus.start = 3
        p.finitialize(-65)
        p.continuerun(1)
        print(p.ExpSyn(section).hname(), stimulus.start, round(p.t, 6))
        """
    )
    assert said.splitlines()[-1] == "ExpSyn[3001] 3.0 1.0"


def test_holding_one_still_keeps_all_through_the_compiled_path():
    section = p.Section()
    synapse = p.ExpSyn(section)
    stimulus = p.NetStim()
    netcon = p.NetCon(stimulus, synapse)
    synapse.tau, stimulus.start, netcon.delay = 2, 1, 3
    assert synapse.tau == 2 and stimulus.start == 1
    del section, synapse, stimulus
    assert patch.references(netcon.syn()) >= {netcon}
    assert netcon.syn().get_segment().sec.L == 100
    assert netcon.pre().start == 1


# What a script sees of every kind of attribute: the two paths must print the same.
SCRIPT = """
import warnings
import numpy
from neuron import h
from patch import p
from patch._hoc import COMPILED

print("compiled", COMPILED)


def show(what, action):
    try:
        result = action()
    except BaseException as error:  # the class and the whole message
        print(what, "->", type(error).__module__, type(error).__qualname__, str(error))
    else:
        print(what, "=", repr(result))


section = p.Section()
stimulus = p.NetStim()
synapse = p.ExpSyn(section)
clamp = p.VClamp(section)
netcon = p.NetCon(stimulus, synapse)
made = p.ExpSyn(section, tau=3.5)  # keyword arguments set through the same path


def set_(obj, name, value):
    def action():
        setattr(obj, name, value)
        return getattr(obj, name) if not name.startswith("_ref_") else None
    return action


for obj, label in ((stimulus, "NetStim"), (synapse, "ExpSyn"), (clamp, "VClamp")):
    for name in sorted(type(obj)._known):
        value = getattr(obj, name, None)
        kind = type(value).__name__
        print(label, name, kind, repr(value) if kind == "float" else "")
show("known set", set_(stimulus, "start", 2))
show("known set int", set_(stimulus, "number", 3))
show("known set bool", set_(synapse, "tau", True))
show("known read", lambda: (stimulus.start, stimulus.number, synapse.tau, made.tau))
show("array read", lambda: list(clamp.dur))
show("array element set", lambda: clamp.dur.__setitem__(1, 4.0))
show("array set", set_(clamp, "dur", 3.0))
show("method read", lambda: str(stimulus.seed))
show("method call", lambda: stimulus.hname())
show("RANDOM read", lambda: type(stimulus.ranvar).__name__)
show("unknown set", set_(stimulus, "strat", 1))
show("unknown set far", set_(stimulus, "zzzz", 1))
show("unknown read", lambda: stimulus.strat)
show("unknown read keyword", lambda: p.ExpSyn(section, taux=1))
show("private read missing", lambda: stimulus._strat)
show("private set", set_(stimulus, "_note", "kept"))
show("private read", lambda: stimulus._note)
show("dunder read", lambda: stimulus.__class__.__name__)
show("slot read", lambda: stimulus._refs)
show("ref set not a pointer", set_(synapse, "_ref_g", 1.0))
show("ref set not a POINTER", set_(synapse, "_ref_g", section(0.5)._ref_v))
show("ref read", lambda: synapse._ref_g is not None)
show("wrong type", set_(stimulus, "start", "x"))
show("wrong type None", set_(synapse, "tau", None))
show("wrong type list", set_(synapse, "tau", [1]))
show("number to a method", set_(stimulus, "seed", 1))
show("number too large", set_(synapse, "tau", 10**400))
show("numpy float", set_(synapse, "tau", numpy.float64(2.5)))
show("numpy int", set_(synapse, "tau", numpy.int64(3)))
show("numpy float read type", lambda: type(synapse.tau).__name__)
show("call", lambda: synapse())
show("delete private", lambda: delattr(stimulus, "_note"))
show("private after delete", lambda: stimulus._note)
show("netcon delay", set_(netcon, "delay", 2.5))
show("netcon threshold", set_(netcon, "threshold", -20))
show("netcon weight element", lambda: (netcon.weight.__setitem__(0, 0.5), netcon.weight[0]))
show("netcon wrong type", set_(netcon, "delay", "x"))
show("netcon unknown", set_(netcon, "dealy", 1))
show("netcon unknown read", lambda: netcon.dealy)
show("netcon private", set_(netcon, "_note", 1))
show("netcon method", lambda: int(netcon.wcnt()))


class Mine(p.ExpSyn):
    @property
    def tau(self):  # a subclass's attribute is read before NEURON's variable
        return "mine"


mine = Mine(section)
show("subclass property read", lambda: mine.tau)
show("subclass variable read", lambda: mine.e)
show("subclass set", set_(mine, "e", -10))
show("subclass unknown", set_(mine, "ee", 1))
with warnings.catch_warnings():
    warnings.simplefilter("error")
    show("raw view", lambda: h.List("NetStim").o(0).start)
"""


def _say(pure: str) -> list[str]:
    env = dict(os.environ, PATCH_PURE_PYTHON=pure)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_the_compiled_and_the_python_path_say_the_same():
    if importlib.util.find_spec("patch._speedups") is None:
        assert not _can_compile(), "patch._speedups was not built: `pip install -e .` builds it"
        pytest.skip("no C compiler or Python headers: there is one path only")
    compiled, pure = _say("0"), _say("1")
    assert compiled[0] == "compiled True" and pure[0] == "compiled False"
    assert compiled[1:] == pure[1:]
    said = "\n".join(pure)
    # What the lines say is what Patch promises, on both paths.
    assert "NetStim start float 50.0" in said
    assert "known set = 2.0" in said
    assert (
        "unknown set -> patch.exceptions UnknownAttributeError NetStim has no attribute 'strat', so NEURON would not see it. Did you mean start?"
        in said
    )
    assert (
        "unknown read -> patch.exceptions UnknownAttributeError NetStim has no attribute 'strat'. Did you mean start?"
        in said
    )
    assert (
        "wrong type -> patch.exceptions ArgumentError NetStim.start = 'x': must be real number"
        in said
    )
    assert (
        "ref set not a pointer -> patch.exceptions ArgumentError ExpSyn._ref_g must be set to a NEURON reference"
        in said
    )
    assert (
        "ref set not a POINTER -> patch.exceptions UnknownAttributeError ExpSyn._ref_g: only a POINTER"
        in said
    )
    assert "private read = 'kept'" in said
    assert "subclass property read = 'mine'" in said
    assert "netcon wrong type -> patch.exceptions ArgumentError NetCon.delay = 'x'" in said
    assert "raw view = 2.0" in said
