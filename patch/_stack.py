"""NEURON's section stack, as Patch pushes and pops it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._boot import h, nrn
from .exceptions import SectionAccessError

if TYPE_CHECKING:
    from ._section import Section

#: Sections pushed with Section.push() and not popped yet; also keeps them alive, as
#: NEURON's own stack does not.
_pushed: list[Section] = []


def stack_nonempty() -> bool:
    """Whether NEURON has a currently accessed section."""
    try:
        h.cas()
    except TypeError:
        return False
    return True


def require_section(what: str) -> None:
    """Raise ``SectionAccessError`` when ``what`` needs a section and none is accessed."""
    if not stack_nonempty():
        raise SectionAccessError(
            f"{what} needs a section: pass one, p.{what}(section), "
            "or push one first (with section.push(): ...)."
        )


def push(section: Section) -> None:
    """Put ``section`` on the stack, remembered as pushed by Patch."""
    nrn.Section.push(section)
    _pushed.append(section)


def pop(section: Section) -> None:
    """Take ``section``, pushed with :func:`push`, off the top of the stack."""
    current = h.cas() if stack_nonempty() else None
    if not _pushed or _pushed[-1] is not section or current is None or not current.same(section):
        raise SectionAccessError(
            f"{section!r} is not on top of the section stack (as pushed with .push()), so "
            "it cannot be popped; pop sections in the reverse order they were pushed."
        )
    h.pop_section()
    _pushed.pop()


def leave(section: Section, failed: bool) -> None:
    """The end of ``with section.push():``; on an exception, pop without hiding it."""
    if not failed:
        pop(section)
    elif _pushed and _pushed[-1] is section:
        h.pop_section()
        _pushed.pop()
