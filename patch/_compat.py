"""nrn-patch 8's names, in one place: what each became in Patch 9.

Renamed names keep working with a ``DeprecationWarning`` naming their replacement;
removed ones raise an ``UnknownAttributeError`` saying what to write instead. The
old modules (``patch.objects``, ``patch.core``, ...) and ``patch`` itself look their old
names up here; the old keywords and methods of Patch's classes (``Section.iclamp``'s
``amplitude=``, ``Section.connect_synapse``, ``SectionRef.section``) are here too.
docs/migrating.md lists every name.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from typing import Any

from . import exceptions

# nrn-patch 8's names that Patch 9 renamed or removed (docs/migrating.md). A renamed name
# maps to (its replacement, "module:attribute" that gives it) and keeps working with a
# DeprecationWarning; a removed one maps to (why, and what to write instead; None).
TRANSFORMS_REMOVED = (
    "Patch resolves sections, segments and the duck-typing hooks (__arc__, __netcon__, "
    "__record__) inside every call, so hand the object itself to p.NetCon, "
    "Vector.record or a point process; patch.transform(obj) gives the NEURON object."
)
RETIRED: dict[str, tuple[str, str | None]] = {
    "h": ("patch.p", "patch._interpreter:p"),
    "NotConnectableError": (
        "patch.exceptions.NotConnectableError",
        "patch.exceptions:NotConnectableError",
    ),
    "is_nrn_scalar": ("patch.is_pointer", "patch._transform:is_pointer"),
    "is_section": (
        "isinstance(patch.transform(obj), neuron.nrn.Section)",
        "patch.core:_is_section",
    ),
    "is_segment": (
        "isinstance(patch.transform(obj), neuron.nrn.Segment)",
        "patch.core:_is_segment",
    ),
    "connection": (
        "Patch keeps no _connections table. The NetCons between two objects are "
        "[nc for nc in patch.references(target) if isinstance(nc, patch.NetCon) "
        "and nc.pre() is source] (for a section source, nc.preseg().sec is source).",
        None,
    ),
    "NotConnectedError": ("it went with patch.connection (see there).", None),
    "transform_arc": (TRANSFORMS_REMOVED, None),
    "transform_netcon": (TRANSFORMS_REMOVED, None),
    "transform_record": (TRANSFORMS_REMOVED, None),
    "is_density_mechanism": (
        "section.insert(name) raises UnknownMechanismError naming close matches; "
        "isinstance(obj, neuron.nrn.Mechanism) tells a mechanism of a segment.",
        None,
    ),
}


def retired(module: str, name: str, fates: Mapping[str, tuple[str, str | None]]) -> Any:
    """nrn-patch 8's ``module.name``: its replacement, with a ``DeprecationWarning`` that
    names it, or an ``UnknownAttributeError`` that says why it is gone.

    For the ``__getattr__`` of ``patch`` and of the old modules (``patch.objects``, ...);
    the warning is attributed to the line that used the old name.
    """
    fate = fates.get(name)
    if fate is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    replacement, where = fate
    if where is None:
        raise exceptions.UnknownAttributeError(
            f"{module}.{name} (nrn-patch 8) was removed in Patch 9: {replacement} "
            "See docs/migrating.md."
        )
    warnings.warn(
        f"{module}.{name} is nrn-patch 8's name; use {replacement} instead "
        "(see docs/migrating.md).",
        DeprecationWarning,
        stacklevel=3,
    )
    source, _, path = where.partition(":")
    value: Any = importlib.import_module(source)
    for part in path.split("."):
        value = getattr(value, part)
    return value


class SectionCompat:
    """nrn-patch 8's methods of ``Section``."""

    __slots__ = ()

    def connect_synapse(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        """nrn-patch 8's name of ``Section.connect_points`` (deprecated)."""
        warnings.warn(
            "Section.connect_synapse is nrn-patch 8's name; use Section.connect_points "
            "instead (the same defaults; see docs/migrating.md).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.connect_points(target, *args, **kwargs)  # type: ignore[attr-defined]


class SectionRefCompat:
    """nrn-patch 8's names of ``SectionRef``."""

    __slots__ = ()

    @property
    def section(self) -> Any:
        """nrn-patch 8's name of ``sec`` (deprecated)."""
        warnings.warn(
            "SectionRef.section is nrn-patch 8's name; use SectionRef.sec instead "
            "(see docs/migrating.md).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.sec  # type: ignore[attr-defined]


def iclamp_settings(x: float | None, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``Section.iclamp``'s keywords for ``patch.iclamp``, with nrn-patch 8's ways of
    giving the amplitude: ``amplitude=`` (deprecated; it kept its 100 ms ``duration``),
    and the amplitude as the first argument (refused: it is now the position)."""
    given = {key: value for key, value in settings.items() if value is not None or key != "amp"}
    if "amplitude" not in given:
        if x is not None and "amp" not in given:
            raise exceptions.ArgumentError(
                f"iclamp({x!r}): {x!r} is the position x along the section, "
                "and no amp= was given (in nrn-patch 8 the first argument was the "
                f"amplitude). Say which you mean: iclamp(amp={x!r}) or "
                f"iclamp({x!r}, amp=0.1)."
            )
        return given
    if "amp" in given:
        raise exceptions.ArgumentError("iclamp: give amp= only (amplitude= is its old name).")
    kept = "" if given.get("duration") is not None else ", duration=100"
    warnings.warn(
        f"iclamp(amplitude=...) is nrn-patch 8's keyword; use iclamp(amp=...{kept}) "
        "instead (without duration= Patch's clamp lasts the whole run; nrn-patch 8's "
        "lasted 100 ms). See docs/migrating.md.",
        DeprecationWarning,
        stacklevel=3,
    )
    given["amp"] = given.pop("amplitude")
    if given.get("duration") is None:
        given["duration"] = 100.0
    return given
