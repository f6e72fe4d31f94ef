"""The pytest side of ``nrn_scripts``: a collector per script, an item per line."""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import patch

from .._validate import ini_number
from ..mods import mod_builds_key
from ..regression.fixtures import SpikeRegression, TraceRegression
from ..regression.session import regression_key
from . import capture
from .lines import ScriptLine
from .output import OutputRegression, check_item, curated
from .runner import Runner

_GID = re.compile(r"\bgid (\d+)")


def _variable(variables: list[str], gid: str) -> str:
    index = int(gid)
    return variables[index] if index < len(variables) else "not a Vector of this run"


class ScriptsWarning(pytest.PytestWarning):
    """Part of what a script produced could not be captured (its Graphs without a display)."""


class ScriptRegressionError(AssertionError):
    """What a script produced differs from its goldens (or had none)."""


class ScriptFile(pytest.File):
    """A model script named by ``nrn_scripts``; its items are the lines naming it."""

    lines: list[ScriptLine]
    settings: Settings
    runner: Runner | None

    def collect(self) -> Iterator[ScriptItem]:
        for line in self.lines:
            yield ScriptItem.from_parent(
                self, name=line.name, line=line, settings=self.settings, runner=self.runner
            )


class Settings:
    """The ini settings every script item shares."""

    def __init__(self, config: pytest.Config) -> None:
        self.ignore = [str(pattern) for pattern in config.getini("nrn_scripts_ignore")]
        self.rtol = ini_number(config, "nrn_scripts_rtol")
        self.atol = ini_number(config, "nrn_scripts_atol")
        self.window = ini_number(config, "nrn_scripts_window")


class ScriptItem(pytest.Item):
    """One ``nrn_scripts`` line: the script loaded in a fresh NEURON from its folder, the
    statements run, and what it produced compared with goldens beside it (in a folder
    named after the script, as for a test module)."""

    #: The script runs in a process of its own, but its goldens are checked in this
    #: session: ``--nrn-unused`` can tell which of them it did not use.
    checks_goldens_here = True

    def __init__(
        self, *, line: ScriptLine, settings: Settings, runner: Runner | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.line = line
        self.settings = settings
        self.runner = runner

    def _skip_without_runner(self) -> None:
        if patch.launched_by_mpi():
            pytest.skip(
                "nrn_scripts items run a model's script on a fresh serial NEURON, which a "
                "session started by an MPI launcher cannot fork: run them with a serial "
                f"`python -m pytest {self.nodeid}`"
            )
        pytest.skip(
            "nrn_scripts items need a process forked before NEURON started; this "
            "session has none (an xdist controller, or collection only)"
        )

    def runtest(self) -> None:
        if self.runner is None:
            self._skip_without_runner()
            return
        cache = str(self.config.rootpath / patch.MechanismBuild.CACHE_DIR)
        mods = [(str(build.folder), cache) for build in self.config.stash.get(mod_builds_key, [])]
        produced = self.runner.run(self.nodeid, self.line, mods)
        # Shown with the item's report, as any test's output.
        sys.stdout.write(produced.output)
        sys.stderr.write(produced.errors)
        regression = self.config.stash[regression_key]
        request = check_item(self)
        traces = TraceRegression(request, regression)
        spikes = SpikeRegression(request, regression)
        failures: list[str] = []

        def attempt(what: str, check: Callable[[], None]) -> None:
            try:
                check()
            except AssertionError as error:
                failures.append(str(error))
            except (TypeError, ValueError) as error:
                failures.append(f"{what}: {error}")

        settings = self.settings
        rtol, atol = settings.rtol, settings.atol
        if produced.graphs:
            attempt(
                "Graph lines",
                lambda: traces.check(produced.graphs, name="graphs", rtol=rtol, atol=atol),
            )
        if produced.graphs_skipped:
            warnings.warn(ScriptsWarning(produced.graphs_skipped), stacklevel=1)
        if produced.vectors:
            attempt(
                "Vectors",
                lambda: traces.check(produced.vectors, name="vectors", rtol=rtol, atol=atol),
            )
        if produced.spikes:
            recorded = regression.failed(self)
            _check_spikes(produced.spikes, spikes, settings.window, attempt, failures, recorded)
        printed = curated(produced.output, settings.ignore)
        output = OutputRegression(request, regression)
        attempt("printed output", lambda: output.check(printed, rtol=rtol, atol=atol))
        if failures:
            raise ScriptRegressionError("\n\n".join(failures))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if excinfo.errisinstance((capture.ScriptFailed, ScriptRegressionError)):
            return f"{self.line.text}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}: {self.line.text}"


def _check_spikes(
    spike_vectors: dict[str, Any],
    spikes: SpikeRegression,
    window: float,
    attempt: Callable[[str, Callable[[], None]], None],
    failures: list[str],
    recorded: list[str] | None,
) -> None:
    """One raster: each Vector of spike times is a "gid", by its variable's place in
    alphabetical order; a failure names the variables, whether it is reported at once
    (``failures``) or recorded for the end of the item (``recorded``)."""
    variables = sorted(spike_vectors)
    trains = {gid: spike_vectors[name] for gid, name in enumerate(variables)}
    recorded = [] if recorded is None else recorded
    before, before_recorded = len(failures), len(recorded)
    attempt("spike times", lambda: spikes.check(trains, window=window, name="spikes"))
    for reports, start in ((failures, before), (recorded, before_recorded)):
        if len(reports) > start:
            reports[-1] = _GID.sub(lambda m: f"{m[0]} ({_variable(variables, m[1])})", reports[-1])
