"""Compile and load the ``.mod`` folders a model repository names (``nrn_mod_dirs``).

The building is :func:`patch.load_mechanisms` (the same cache a model's own scripts
use), into ``.nrn-mod-cache/`` under the rootdir; this module reads the options, turns
a failure into a usage error, and says in the header what was built.

CoreNEURON (``nrn_coreneuron``): ``auto`` (the default) loads NEURON's build at configure
time and builds each folder for CoreNEURON when a collected test runs in CoreNEURON
(``nrn_configs(coreneuron=...)``), one folder at a time: a folder CoreNEURON cannot
compile keeps NEURON's build, and its CoreNEURON error becomes the skip reason of the
CoreNEURON runs that use its mechanisms. ``true`` builds for CoreNEURON up front and a
failure is a usage error; ``false`` never builds for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import patch
from patch.exceptions import PatchError

#: The mod folders built and loaded for this session, in the order they were loaded.
mod_builds_key = pytest.StashKey["list[patch.MechanismBuild]"]()
#: Folder -> why CoreNEURON cannot run its mechanisms (its CoreNEURON build failed).
coreneuron_errors_key = pytest.StashKey["dict[Path, str]"]()
_coreneuron_tried_key = pytest.StashKey[bool]()
MODES = ("auto", "true", "false")


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
    group.addoption(
        "--nrn-clear-mod-cache",
        action="store_true",
        default=False,
        help="delete the compiled mechanisms kept in the rootdir's .nrn-mod-cache (and the "
        "remembered CoreNEURON build failures) before building the mod folders.",
    )
    parser.addini(
        "nrn_mod_dirs",
        "folders of .mod files, relative to the rootdir, compiled (cached by content) "
        "and loaded on every rank before collection; separated by spaces or newlines.",
        type="args",
        default=[],
    )
    parser.addini(
        "nrn_coreneuron",
        "compile the nrn_mod_dirs for CoreNEURON (nrnivmodl -coreneuron): auto (default: "
        "when a collected test runs in CoreNEURON; a folder it cannot compile keeps "
        "NEURON's build and its CoreNEURON tests are skipped with the compiler's message), "
        "true (up front; a failure stops the session), false (never).",
        default="auto",
    )


def coreneuron_mode(config: pytest.Config) -> str:
    """``auto``, ``true`` or ``false``: the ini key ``nrn_coreneuron``, checked."""
    value = str(config.getini("nrn_coreneuron")).strip().lower()
    value = {
        "1": "true",
        "yes": "true",
        "on": "true",
        "0": "false",
        "no": "false",
        "off": "false",
    }.get(value, value)
    if value not in MODES:
        raise pytest.UsageError(
            f"nrn_coreneuron = {config.getini('nrn_coreneuron')!r}: give auto (the default), "
            "true or false."
        )
    return value


def configure(config: pytest.Config) -> None:
    """Compile (cached) and load the configured mod folders."""
    mode = coreneuron_mode(config)
    folders = mod_folders(config)
    # Once a run: not again in pytest-xdist's workers (the controller cleared it).
    clear = config.getoption("nrn_clear_mod_cache") and not hasattr(config, "workerinput")
    if not folders and not clear:
        return  # nothing to build: NEURON is not started for it
    cache = config.rootpath / patch.MechanismBuild.CACHE_DIR
    if clear:
        try:
            patch.clear_mod_cache(cache)
        except PatchError as error:
            raise pytest.UsageError(str(error)) from None
    builds = [build_and_load(folder, cache, mode == "true") for folder in folders]
    config.stash[mod_builds_key] = builds
    config.stash[coreneuron_errors_key] = {}
    config.pluginmanager.register(_BuildReport(builds, config), "pytest-patch-mods")


def ensure_coreneuron(config: pytest.Config) -> dict[Path, str]:
    """Build every mod folder for CoreNEURON (once a session, collectively, cached), unless
    ``nrn_coreneuron = false``; returns folder -> why CoreNEURON cannot run it."""
    builds = config.stash.get(mod_builds_key, None)
    if not builds:
        return {}
    errors = config.stash[coreneuron_errors_key]
    if config.stash.get(_coreneuron_tried_key, False) or coreneuron_mode(config) == "false":
        return errors
    config.stash[_coreneuron_tried_key] = True
    cache = config.rootpath / patch.MechanismBuild.CACHE_DIR
    for index, build in enumerate(builds):
        if build.coreneuron_library is not None:
            continue
        try:
            builds[index] = patch.build_for_coreneuron(build.folder, cache=cache)
        except PatchError as error:
            errors[build.folder] = str(error)
    return errors


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
        hint = ""
        if coreneuron and "CoreNEURON build" in str(error):
            hint = (
                "\n(nrn_coreneuron = true requires it; with nrn_coreneuron = auto, NEURON's "
                "tests run and CoreNEURON's runs of these mechanisms are skipped with this "
                "message.)"
            )
        raise pytest.UsageError(str(error) + hint) from None


class _BuildReport:
    """Says in the session header which mod folders were compiled or taken from the cache,
    and after collection what the CoreNEURON builds gave."""

    def __init__(self, builds: list[patch.MechanismBuild], config: pytest.Config) -> None:
        self._builds = builds
        self._config = config

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = []
        for build in self._builds:
            how = f"compiled in {build.seconds:.1f} s" if build.compiled else "cached"
            core = " and CoreNEURON's" if build.coreneuron_library is not None else ""
            lines.append(f"nrn mods: {build.folder} -> {build.library}{core} ({how})")
        return lines

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        if not config.stash.get(_coreneuron_tried_key, False):
            return []
        errors = config.stash[coreneuron_errors_key]
        lines = []
        for build in self._builds:
            if build.folder in errors:
                first = _first_error_line(errors[build.folder])
                lines.append(
                    f"nrn mods: no CoreNEURON build of {build.folder} (its CoreNEURON tests "
                    f"that use its mechanisms are skipped): {first}"
                )
            elif build.coreneuron_library is not None:
                lines.append(
                    f"nrn mods: {build.folder} for CoreNEURON -> {build.coreneuron_library}"
                )
        return lines


def _first_error_line(message: str) -> str:
    """The compiler's most telling error line in a build failure message: the first that
    says what is wrong (NMODL's "... :: ... :: why", a C++ "error: why"), else the first."""
    lines = [line.strip() for line in message.splitlines()[1:]]
    errors = [line for line in lines if re.search(r"error|illegal", line, re.IGNORECASE)]
    telling = [line for line in errors if line.count("::") >= 2 or "error:" in line.lower()]
    return (telling or errors or message.splitlines())[0]
