"""The mechanism table: which point processes NEURON knows, and what their mods declare."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ._boot import h, hoc, nrn


class Mechanism(NamedTuple):
    """What Patch needs to know of a point process type."""

    artificial: bool
    netcon_target: bool


_point_processes: dict[str, Mechanism] = {}


def point_processes() -> dict[str, Mechanism]:
    """Every point process and artificial cell NEURON knows: name -> (artificial, target).

    Built-in ones and those of loaded mod files; the table is read again whenever NEURON
    knows a different number of them (after ``nrn_load_dll``, however it was called).
    """
    if len(_point_processes) != _count():
        kind = h.MechanismType(1)
        name = h.ref("")
        for i in range(int(kind.count())):
            kind.select(i)
            kind.selected(name)
            _point_processes[name[0]] = Mechanism(
                bool(kind.is_artificial(i)), bool(kind.is_netcon_target(i))
            )
    return _point_processes


# A hoc function that counts the point process types. Each hoc object made from Python
# leaves ~100 bytes behind in NEURON for good, one made in hoc does not: the count is
# asked on every look-up of a point process, so it is made in hoc.
_COUNT = "patch_point_process_count_"
_count_defined = False


def _count() -> int:
    """How many point process types NEURON knows now."""
    global _count_defined
    if not _count_defined:
        if not h.name_declared(_COUNT):
            h(
                f"func {_COUNT}() {{ localobj kind\n kind = new MechanismType(1)\n"
                " return kind.count() }"
            )
        _count_defined = True
    return int(getattr(h, _COUNT)())


def hoc_name(obj: Any) -> str:
    """The hoc class name of a hoc object (``"ExpSyn"`` for ``ExpSyn[3]``), or ``""``."""
    try:
        return obj.hname().split("[", 1)[0]
    except Exception:
        return ""


def mechanism_of(obj: Any) -> Mechanism | None:
    """The mechanism of a point process (Patch's or raw), ``None`` for anything else."""
    cls = type(obj)
    if issubclass(cls, nrn.Section):
        return None
    known = getattr(cls, "_mechanism", None)
    if known is not None:
        return known
    if not issubclass(cls, hoc.HocObject):
        return None
    return point_processes().get(hoc_name(obj))


def is_point_process(obj: Any) -> bool:
    """Whether ``obj`` is a NEURON point process or artificial cell."""
    return mechanism_of(obj) is not None


# -- POINTER declarations -------------------------------------------------------------
#: Folders whose .mod files were compiled into a loaded library; NEURON itself loads the
#: one of the working directory at start-up.
_mod_folders: list[Path] = [Path.cwd()]
_read_folders: set[Path] = set()
_pointer_table: dict[str, tuple[str, ...]] = {}
_COMMENTS = re.compile(r"COMMENT.*?ENDCOMMENT|:[^\n]*|\?[^\n]*", re.DOTALL)
_NEURON_BLOCK = re.compile(r"\bNEURON\s*\{([^}]*)\}")
_PROCESS_NAME = re.compile(r"\b(?:POINT_PROCESS|ARTIFICIAL_CELL)\s+(\w+)")
_POINTERS = re.compile(r"\bPOINTER\b([\w \t,]*)")
_POINTING = re.compile(r"\bnrn_pointing\s*\(\s*(?:_p_)?(\w+)\s*\)")


_MECHANISM_NAME = re.compile(r"\b(?:SUFFIX|POINT_PROCESS|ARTIFICIAL_CELL)\s+(\w+)")


def mod_sources(folder: Path) -> Iterator[tuple[Path, str]]:
    """Each ``.mod`` file of ``folder`` and its text without comments (unreadable ones
    are passed over)."""
    for source in sorted(folder.glob("*.mod")):
        try:
            yield source, _COMMENTS.sub("", source.read_text(errors="replace"))
        except OSError:
            continue


def mechanism_names(folder: Path) -> set[str]:
    """The names the folder's ``.mod`` files give their mechanisms."""
    return {name for _, text in mod_sources(folder) for name in _MECHANISM_NAME.findall(text)}


def add_mod_folder(folder: str | Path) -> None:
    """Remember a folder of ``.mod`` files whose compiled library NEURON loaded."""
    folder = Path(folder).resolve()
    if folder not in _mod_folders:
        _mod_folders.append(folder)


def declared_pointers() -> dict[str, tuple[str, ...]]:
    """POINTER variables of each point process, as the ``.mod`` sources declare them.

    NEURON does not tell a POINTER (read in every time step) from a BBCOREPOINTER or a
    RANDOM variable (used only when the model asks), so they are read from the ``.mod``
    files beside each loaded library. NEURON's own point processes have none.
    """
    for folder in _mod_folders:
        if folder in _read_folders:
            continue
        _read_folders.add(folder)
        for _, text in mod_sources(folder):
            block = _NEURON_BLOCK.search(text)
            process = _PROCESS_NAME.search(block.group(1)) if block else None
            if block is None or process is None:
                continue
            optional = set(_POINTING.findall(text))  # tested before use: may stay unset
            names = [
                name
                for match in _POINTERS.finditer(block.group(1))
                for name in re.findall(r"\w+", match.group(1))
                if name not in optional
            ]
            _pointer_table.setdefault(process.group(1), tuple(names))
    return _pointer_table


def _names(kind: int) -> set[str]:
    names: set[str] = set()
    name = h.ref("")
    mechanisms = h.MechanismType(kind)
    for i in range(int(mechanisms.count())):
        mechanisms.select(i)
        mechanisms.selected(name)
        names.add(name[0])
    return names


def scalar_variables(name: str) -> frozenset[str]:
    """The range variables of the mechanism ``name`` that hold one number (not arrays)."""
    standard = h.MechanismStandard(name, 0)  # 0: PARAMETER, ASSIGNED and STATE
    variable = h.ref("")
    scalars = set()
    for i in range(int(standard.count())):
        if int(standard.name(variable, i)) == 1:
            scalars.add(variable[0])
    return frozenset(scalars)


def density_mechanisms() -> set[str]:
    """The names of every density mechanism NEURON knows (``hh``, ``pas``, ions, ...)."""
    return _names(0)


def loaded_names() -> set[str]:
    """The names of every density mechanism and point process NEURON knows."""
    return _names(0) | set(point_processes())
