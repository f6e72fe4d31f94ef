"""Compile and load the ``.mod`` folders a model repository names (``nrn_mod_dirs``).

The building is :func:`patch.load_mechanisms` (the same cache a model's own scripts
use), into ``.nrn-mod-cache/`` under the rootdir; this module reads the options, turns
a failure into a usage error, and says in the header what was built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import patch
from patch.exceptions import PatchError

from ._ini import flag

#: The mod folders built and loaded for this session, in the order they were loaded.
mod_builds_key = pytest.StashKey["list[patch.MechanismBuild]"]()


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register ``--nrn-mod-dir`` and the ``nrn_mod_dirs`` ini key."""
    group.addoption(
        "--nrn-mod-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of .mod files to compile (cached by content) and load before the "
        "tests are collected; repeat for several folders. Adds to nrn_mod_dirs.",
    )
    parser.addini(
        "nrn_mod_dirs",
        "folders of .mod files, relative to the rootdir, compiled (cached by content) "
        "and loaded on every rank before collection.",
        type="linelist",
        default=[],
    )
    parser.addini(
        "nrn_coreneuron",
        "compile the nrn_mod_dirs for CoreNEURON as well (nrnivmodl -coreneuron), for "
        "tests with nrn_configs(coreneuron=...).",
        type="bool",
        default=False,
    )


def configure(config: pytest.Config) -> None:
    """Compile (cached) and load the configured mod folders."""
    coreneuron = flag(config, "nrn_coreneuron")  # checked even with no folder to compile
    folders = mod_folders(config)
    if not folders:
        return
    cache = config.rootpath / patch.MechanismBuild.CACHE_DIR
    builds = [build_and_load(folder, cache, coreneuron) for folder in folders]
    config.stash[mod_builds_key] = builds
    config.pluginmanager.register(_BuildReport(builds), "pytest-patch-mods")


def mod_folders(config: pytest.Config) -> list[Path]:
    """The mod folders of this session: ini entries (rootdir-relative), then the options."""
    entries = [(config.rootpath / entry, "nrn_mod_dirs") for entry in config.getini("nrn_mod_dirs")]
    entries += [
        (Path(entry).absolute(), "--nrn-mod-dir") for entry in config.getoption("nrn_mod_dir")
    ]
    folders: list[Path] = []
    for folder, origin in entries:
        folder = folder.resolve()
        if not folder.is_dir():
            raise pytest.UsageError(
                f"{origin}: the mod folder {folder} does not exist. Paths in the ini file "
                f"are relative to the rootdir ({config.rootpath}); --nrn-mod-dir paths are "
                "relative to the current directory."
            )
        if not any(folder.glob("*.mod")):
            raise pytest.UsageError(f"{origin}: {folder} contains no .mod files.")
        if folder not in folders:
            folders.append(folder)
    return folders


def build_and_load(folder: Path, cache: Path, coreneuron: bool = False) -> patch.MechanismBuild:
    """Build ``folder`` (on rank 0, or from the cache) and load it on every rank.

    Every rank gets the same verdict: a failure on any rank is a usage error on all.
    """
    try:
        return patch.load_mechanisms(folder, cache=cache, coreneuron=coreneuron)
    except PatchError as error:
        raise pytest.UsageError(str(error)) from None


class _BuildReport:
    """Says in the session header which mod folders were compiled or taken from the cache."""

    def __init__(self, builds: list[patch.MechanismBuild]) -> None:
        self._builds = builds

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = []
        for build in self._builds:
            how = f"compiled in {build.seconds:.1f} s" if build.compiled else "cached"
            lines.append(f"nrn mods: {build.folder} -> {build.library} ({how})")
        return lines
