"""The ``nrn_scripts`` ini lines: which script each item loads and what it runs after."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: The languages of the scripts, by suffix.
LANGUAGES = {".hoc": "hoc", ".ses": "hoc", ".py": "python"}
SEPARATOR = "::"
_SAFE = re.compile(r"[^A-Za-z0-9]+")
_USAGE = (
    "each line of nrn_scripts is `PATH` or `PATH :: STATEMENTS`: PATH a .hoc or .py script "
    "relative to the ini file, STATEMENTS in the script's language separated by `;`, run "
    'after it is loaded (e.g. `mosinit.hoc :: restart("fig5a"); run()`)'
)


class ScriptLineError(ValueError):
    """A ``nrn_scripts`` line that cannot be run; the message says how to write it."""


@dataclass(frozen=True)
class ScriptLine:
    """One ``nrn_scripts`` line: a script, the statements run after it, the item's name."""

    path: Path
    statements: tuple[str, ...]
    text: str
    name: str = ""

    @property
    def language(self) -> str:
        return LANGUAGES[self.path.suffix]


def parse(lines: list[str], base: Path) -> list[ScriptLine]:
    """The ``nrn_scripts`` lines, paths resolved against ``base`` (the ini file's folder),
    each with an item name that is unique for its script and safe in a shell.

    Raises :class:`ScriptLineError` for a line that names no script, a script that does
    not exist or is of no known language, or statements that are empty or unbalanced.
    """
    parsed: list[ScriptLine] = []
    taken: dict[Path, set[str]] = {}
    for text in lines:
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        where, separator, rest = text.partition(SEPARATOR)
        where = where.strip()
        if not where:
            raise ScriptLineError(f"nrn_scripts line {text!r} names no script: {_USAGE}.")
        path = (base / where).resolve()
        if path.suffix not in LANGUAGES:
            raise ScriptLineError(
                f"nrn_scripts line {text!r}: {where} is neither a hoc (.hoc, .ses) nor a Python "
                f"(.py) script; {_USAGE}."
            )
        if not path.is_file():
            raise ScriptLineError(
                f"nrn_scripts line {text!r}: the script {path} does not exist (paths are "
                f"relative to the ini file's folder, {base})."
            )
        statements: tuple[str, ...] = ()
        if separator:
            statements = tuple(split_statements(rest, text))
            if not statements:
                raise ScriptLineError(
                    f"nrn_scripts line {text!r} has `::` but no statements after it; {_USAGE}."
                )
        names = taken.setdefault(path, set())
        name = item_name(statements)
        unique, count = name, 1
        while unique in names:
            count += 1
            unique = f"{name}_{count}"
        names.add(unique)
        parsed.append(ScriptLine(path, statements, text, unique))
    return parsed


def split_statements(text: str, line: str) -> list[str]:
    """``text`` cut at each ``;`` outside quotes and brackets, empty pieces dropped."""
    pieces, current, quote, depth = [], [], "", 0
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == ";" and depth == 0:
            pieces.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quote or depth:
        what = f"an unclosed {quote}" if quote else "unbalanced brackets"
        raise ScriptLineError(f"nrn_scripts line {line!r}: the statements have {what}; {_USAGE}.")
    pieces.append("".join(current).strip())
    return [piece for piece in pieces if piece]


def item_name(statements: tuple[str, ...]) -> str:
    """A name made of the statements' letters and digits (``restart_fig5a_run``), or
    ``load`` when the script only loads: safe to type in a shell, unquoted."""
    words = _SAFE.sub("_", " ".join(statements)).strip("_")
    if not words:
        return "load"
    return words[:60].rstrip("_")
