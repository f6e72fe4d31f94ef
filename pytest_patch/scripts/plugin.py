"""The ``nrn_scripts`` ini keys, the display chosen at configure, and collection."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import patch

from ..regression.golden_check import ATOL, RTOL, WINDOW
from .display import Display, choose
from .items import ScriptFile, Settings
from .lines import ScriptLine, ScriptLineError, parse
from .runner import Runner

scripts_key = pytest.StashKey["Scripts"]()


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Register the ini keys ``nrn_scripts``, ``nrn_scripts_ignore`` and the tolerances."""
    parser.addini(
        "nrn_scripts",
        "model scripts run as tests, one per line, relative to the ini file: PATH or "
        'PATH :: STATEMENTS (e.g. mosinit.hoc :: restart("fig5a"); run()).',
        type="linelist",
        default=[],
    )
    parser.addini(
        "nrn_scripts_ignore",
        "regular expressions, one per line: printed lines of nrn_scripts items that match "
        "one are not compared (timings, dates, paths).",
        type="linelist",
        default=[],
    )
    parser.addini(
        "nrn_scripts_rtol",
        "relative tolerance of nrn_scripts traces and numbers",
        default=str(RTOL),
    )
    parser.addini(
        "nrn_scripts_atol",
        "absolute tolerance of nrn_scripts traces and numbers",
        default=str(ATOL),
    )
    parser.addini(
        "nrn_scripts_window", "spike window (ms) of nrn_scripts spike times", default=str(WINDOW)
    )


def configure(config: pytest.Config) -> None:
    """Read ``nrn_scripts``; give NEURON a display before it starts. Runs first."""
    entries = [str(line) for line in config.getini("nrn_scripts")]
    if not entries:
        return
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    try:
        lines = parse(entries, base)
    except ScriptLineError as error:
        raise pytest.UsageError(str(error)) from None
    started = "neuron" in sys.modules
    launched = patch.launched_by_mpi()
    if launched:
        display = Display(None, "", "this session was started by an MPI launcher")
    elif started:
        display = Display(
            None,
            "",
            "NEURON started before pytest-patch could give it one (imported by a "
            "conftest or a plugin at load time)",
        )
    else:
        display = choose()
    controller = config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")
    runner = None
    if not controller and not config.option.collectonly and not launched:
        runner = Runner(config, graphs=not started)
    scripts = Scripts(lines, display, Settings(config), runner)
    config.stash[scripts_key] = scripts
    config.pluginmanager.register(scripts, "pytest-patch-scripts")


class Scripts:
    """Collects the scripts of ``nrn_scripts``; owns the session's virtual display."""

    def __init__(
        self, lines: list[ScriptLine], display: Display, settings: Settings, runner: Runner | None
    ) -> None:
        self.display = display
        self.settings = settings
        self.runner = runner
        self.by_path: dict[Path, list[ScriptLine]] = {}
        for line in lines:
            self.by_path.setdefault(line.path, []).append(line)

    def pytest_report_header(self) -> str:
        return self.display.describe()

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> ScriptFile | None:
        lines = self.by_path.get(file_path.resolve())
        if not lines:
            return None
        script: ScriptFile = ScriptFile.from_parent(parent, path=file_path)
        script.lines = lines
        script.settings = self.settings
        script.runner = self.runner
        return script

    def pytest_unconfigure(self) -> None:
        if self.runner is not None:
            self.runner.close()
        self.display.stop()
