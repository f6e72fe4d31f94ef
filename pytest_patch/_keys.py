"""Every StashKey of pytest-patch, so each piece of session or test state has one home."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .fixtures import Simulator
    from .mods import ModBuild

#: The session's :class:`~pytest_patch.fixtures.Simulator` (baseline and leak mode).
simulator_key = pytest.StashKey["Simulator"]()
#: The mod folders built and loaded for this session, in the order they were loaded.
mod_builds_key = pytest.StashKey["list[ModBuild]"]()
#: Whether the test's call phase failed (its traceback then holds what it made).
call_failed_key = pytest.StashKey[bool]()
