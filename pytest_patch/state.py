"""The simulator's global settings: what one test may change and the next must not see.

A test that sets ``secondorder``, a CVode tolerance, a mechanism's GLOBAL parameter, an
ion's default concentration, the thread count or the random-stream index changes every
later test's results, whichever way it changed them (``p``, ``neuron.h`` or hoc). A
:class:`GlobalState` is a snapshot of all of them, read through NEURON's own getters:

- every top-level hoc scalar (the run system's ``tstop``, ``v_init``, ``using_cvode_``,
  ``secondorder``, ion defaults such as ``nai0_na_ion``, a model's hoc globals);
- the GLOBAL variables of every mechanism (``MechanismStandard(name, -1)``);
- CVode's settings (active, local step, tolerances, order, steps, methods);
- the thread count and Random123's global index.

:meth:`GlobalState.restore` puts a snapshot back and returns what it had to change, as
``(name, value found, value restored)``. The module only reads and writes NEURON through
the ``h`` it is given, so a fresh interpreter can take NEURON's own defaults with it
(:func:`pristine`).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import patch

# CVode's settings, each read by calling the method without arguments and set with one.
# ``active`` is restored first and through the run system (see ``_set_cvode_active``).
_CVODE = (
    "use_local_dt",
    "use_daspk",
    "atol",
    "rtol",
    "maxorder",
    "maxstep",
    "minstep",
    "stiff",
    "condition_order",
    "use_long_double",
    "jacobian",
    "queue_mode",
    "use_mxb",
    "cache_efficient",
)
# Hoc scalars that are NEURON's own bookkeeping, not settings: flags it raises to redo
# work (setting ``diam_changed`` back to 0 would skip a geometry update) and values the
# run system or hoc rewrite on every use.
_BOOKKEEPING = frozenset(
    (
        "diam_changed",
        "nrn_shape_changed_",
        "coreneuronrunning_",
        "default_dll_loaded_",
        "running_",
        "stoprun",
        "mapped_nrnmainmenu_",
        "nstep_steprun",
        "eventcount",
        "eventslow",
        "realtime",
        "rtstart",
        "hoc_ac_",
        "hoc_cross_x_",
        "hoc_cross_y_",
    )
)


class GlobalState:
    """A snapshot of NEURON's global settings, by name (see the module docstring)."""

    def __init__(self, values: dict[str, float], h: Any = None) -> None:
        self.values = values
        # name -> (getter, setter), found once: restoring reads only what was captured.
        self._settings = _settings(h) if h is not None else {}

    @classmethod
    def capture(cls, h: Any) -> GlobalState:
        """Read every global setting of the NEURON behind ``h`` now."""
        state = cls({}, h)
        state.values = {
            name: value
            for name, (get, _) in state._settings.items()
            if (value := _read(get)) is not None
        }
        return state

    def bind(self, h: Any) -> GlobalState:
        """This snapshot's values, to be restored into the NEURON behind ``h``."""
        return GlobalState(self.values, h)

    def restore(self, h: Any) -> list[tuple[str, float, float]]:
        """Put every setting of the snapshot back; return what differed.

        Settings that did not exist when the snapshot was taken (a hoc file or mechanism
        loaded later) are left as they are, and so are those of the snapshot that the
        NEURON it was bound to does not have.
        """
        changed: list[tuple[str, float, float]] = []
        active = self.values.get("cvode.active")
        if active is not None and int(h.CVode().active()) != active:
            changed.append(("cvode.active", int(h.CVode().active()), active))
            _set_cvode_active(h, active)
        for name, want in self.values.items():
            if name not in self._settings:
                continue
            get, set_ = self._settings[name]
            now = _read(get)
            if now is None or _same(now, want) or name == "cvode.active":
                continue
            try:
                set_(want)
            except Exception:  # a read-only hoc constant: nothing a test can change
                continue
            changed.append((name, now, want))
        return changed

    def to_json(self) -> str:
        return json.dumps(self.values)


# Run in the fresh interpreter of pristine(): NEURON's defaults as JSON, raw NEURON alone.
_DEFAULTS = (
    "from neuron import h\n"
    "from pytest_patch.state import GlobalState\n"
    "h.load_file('stdrun.hoc')\n"
    "print(GlobalState.capture(h).to_json())\n"
)


def pristine(timeout: float = 60) -> GlobalState:
    """NEURON's own defaults (with ``stdrun.hoc`` loaded), read in a fresh interpreter.

    For a session in which NEURON was first imported inside a test: what that test had
    changed by then must not become every later test's baseline.
    """
    result = subprocess.run(  # a serial interpreter, whatever launcher started this one
        [sys.executable, "-c", _DEFAULTS],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
        env=patch.serial_environment(),
    )
    return GlobalState(json.loads(result.stdout.strip().splitlines()[-1]))


def _settings(h: Any) -> dict[str, tuple[Callable[[], Any], Callable[[float], Any]]]:
    """Every global setting of ``h``: name -> (getter, setter)."""
    found: dict[str, tuple[Callable[[], Any], Callable[[float], Any]]] = {}
    cvode = h.CVode()
    found["cvode.active"] = (cvode.active, cvode.active)
    for method in _CVODE:
        function = getattr(cvode, method)
        found[f"cvode.{method}"] = (function, function)
    parallel = h.ParallelContext()
    found["nthread"] = (parallel.nthread, parallel.nthread)
    random = h.Random()
    found["Random123_globalindex"] = (
        random.Random123_globalindex,
        random.Random123_globalindex,
    )
    for name in dir(h):
        if name in _BOOKKEEPING or name.startswith("__") or h.name_declared(name) != 5:
            continue
        found[name] = _hoc_variable(h, name)
    for name in _mechanism_globals(h):
        found[name] = _hoc_variable(h, name)
    return found


def _mechanism_globals(h: Any) -> list[str]:
    """The scalar GLOBAL variables of every mechanism, by their hoc names (``vshift_na``)."""
    names = []
    text = h.ref("")
    for kind in (0, 1):  # density mechanisms, point processes
        types = h.MechanismType(kind)
        for index in range(int(types.count())):
            types.select(index)
            types.selected(text)
            standard = h.MechanismStandard(text[0], -1)
            for variable in range(int(standard.count())):
                size = standard.name(text, variable)
                if size == 1:
                    names.append(text[0])
    return names


def _hoc_variable(h: Any, name: str) -> tuple[Callable[[], Any], Callable[[float], Any]]:
    return (lambda: getattr(h, name)), (lambda value: setattr(h, name, value))


def _read(get: Callable[[], Any]) -> float | None:
    try:
        value = get()
    except Exception:  # a hoc array or a setting this NEURON does not have
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value  # kept as it is: NEURON's integer settings refuse a float
    return None


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _set_cvode_active(h: Any, active: float) -> None:
    """Switch CVode as the run system does, so its ``using_cvode_`` and saved ``dt`` agree.

    ``CVode.active`` alone leaves ``stdrun.hoc`` stepping with the other method, and its
    runs end past ``tstop``.
    """
    if h.name_declared("cvode_active") == 1 and h.name_declared("using_cvode_") == 5:
        h.cvode_active(active)
    else:
        h.CVode().active(active)
