"""The session's side of regression checks: options, golden paths, and the end-of-run
summary of written and unused golden files."""

from __future__ import annotations

import functools
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import patch

from .._validate import positive_seconds
from ..configs import golden_stem
from . import golden
from .calibrate import Calibration

UNUSED_MODES = ("report", "delete")
DEFAULT_ARTIFACTS = ".patch-artifacts"


def addoption(group: Any, parser: pytest.Parser) -> None:
    """``--nrn-regen``, ``--nrn-unused``, ``--nrn-variant``, ``--nrn-artifacts``,
    ``--nrn-calibrate``."""
    group.addoption(
        "--nrn-regen",
        action="store_true",
        default=False,
        help="rewrite the golden files of failing or missing regression checks; those "
        "tests pass with a warning naming each file written.",
    )
    group.addoption(
        "--nrn-unused",
        choices=UNUSED_MODES,
        default=None,
        help="after a complete run, report (or delete) golden files that no test used.",
    )
    group.addoption(
        "--nrn-variant",
        nargs="?",
        const="build",
        default=None,
        metavar="NAME",
        help="with --nrn-regen, write golden variants for this build (NEURON's "
        "major.minor version) or for NAME; a run uses the variant of its build when "
        "there is one.",
    )
    group.addoption(
        "--nrn-artifacts",
        default=None,
        metavar="DIR",
        help=f"where pictures of failed regression checks go (default: {DEFAULT_ARTIFACTS} "
        "in the rootdir); needs matplotlib.",
    )
    group.addoption(
        "--nrn-calibrate",
        action="store_true",
        default=False,
        help="run each regression-checked test again with dt halved, with CVode and with 2 "
        "threads, and store in its goldens the tolerance that covers the spread (unless "
        "it would let a broken model pass: the summary says why).",
    )
    group.addoption(
        "--nrn-calibrate-timeout",
        type=functools.partial(positive_seconds, name="--nrn-calibrate-timeout"),
        default=None,
        metavar="SECONDS",
        help="with --nrn-calibrate: stop and skip a perturbed run that takes longer (default 300).",
    )


regression_key = pytest.StashKey["Regression"]()
_missing_key = pytest.StashKey[list[str]]()
_failed_key = pytest.StashKey[list[str]]()
_count_key = pytest.StashKey[int]()


def configure(config: pytest.Config) -> None:
    regression = Regression(config)
    config.stash[regression_key] = regression
    config.pluginmanager.register(regression, "patch-regression")


class Regression:
    """Golden file bookkeeping for one session (and its end-of-run summary)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.regen: bool = config.getoption("nrn_regen", False)
        self.unused_mode: str | None = config.getoption("nrn_unused", None)
        variant = config.getoption("nrn_variant", None)
        self.variant: str | None = variant
        artifacts = config.getoption("nrn_artifacts", None)
        root = Path(config.rootpath)
        self.artifacts = (Path(artifacts) if artifacts else root / DEFAULT_ARTIFACTS).absolute()
        #: Golden files the tests' reports name (in-process, xdist workers, child runs).
        self.used: set[str] = set()
        self.written: list[tuple[str, str]] = []
        #: Goldens read under their old name (with brackets) -> their new name.
        self.renamed: dict[Path, Path] = {}
        self.calibration = Calibration(config, self)
        self._deselected = 0
        self._outcomes: dict[str, str] = {}
        self._ran_here: set[str] = set()
        if self.variant is not None and not self.regen:
            raise pytest.UsageError(
                "--nrn-variant names the variant --nrn-regen writes; a run without "
                "--nrn-regen picks its build's variant by itself. Add --nrn-regen."
            )

    # -- paths ---------------------------------------------------------------------------
    def show(self, path: Path) -> str:
        """``path`` as the user sees it: relative to the rootdir when inside it."""
        try:
            return str(path.relative_to(self.config.rootpath))
        except ValueError:
            return str(path)

    def path_for(self, item: pytest.Item, name: str | None, kind: str) -> Path:
        """The golden file of a check: this build's variant when one exists."""
        folder = item.path.with_suffix("")
        stem = golden.safe_name(test_stem(item))
        if self.variant is not None:
            variant = golden.build_variant() if self.variant == "build" else self.variant
            return golden.golden_path(folder, stem, name, kind, variant)
        candidates = [
            golden.golden_path(folder, stem, name, kind, v) for v in (golden.build_variant(), None)
        ]
        legacy = golden.legacy_name(test_stem(item))
        if legacy != stem:  # written before brackets were replaced: read there until rewritten
            for index, old in enumerate(
                [
                    golden.golden_path(folder, legacy, name, kind, v)
                    for v in (golden.build_variant(), None)
                ]
            ):
                if old.exists() and not candidates[index].exists():
                    self.renamed[old] = candidates[index]
                    candidates[index] = old
        return next((path for path in candidates if path.exists()), candidates[-1])

    def write_path(self, path: Path) -> Path:
        """Where a golden read at ``path`` is written: under its new name, once the old
        one (with brackets) is gone."""
        new = self.renamed.pop(path, None)
        if new is None:
            return path
        path.unlink(missing_ok=True)
        return new

    def artifact_path(self, item: pytest.Item, name: str | None, kind: str) -> Path:
        """Where the picture of a failed check goes: named after the test as it ran (with
        its parameters and configuration), so no two failures share a picture."""
        folder = item.path.with_suffix("")
        try:
            folder = folder.relative_to(self.config.rootpath)
        except ValueError:
            folder = Path(folder.name)
        parts = [golden.safe_name(item.name)] + ([golden.safe_name(name)] if name else [])
        return self.artifacts / folder / (".".join(parts + [kind]) + ".png")

    def missing(self, item: pytest.Item) -> list[str]:
        """The goldens this test found missing and wrote."""
        return item.stash.setdefault(_missing_key, [])

    def failed(self, item: pytest.Item) -> list[str] | None:
        """The reports of this test's failed checks, kept until its call ends; ``None``
        outside the call (a check in a fixture's teardown fails at once)."""
        return item.stash.get(_failed_key, None)

    def checked(self, item: pytest.Item) -> None:
        """Count one more check of this test."""
        item.stash[_count_key] = item.stash.get(_count_key, 0) + 1

    # -- hooks ---------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # Neither a missing golden nor a failed check stops the test: every check runs
        # (and every missing golden is written), and the test fails once it is over,
        # with each failed check's report. The verdicts are collective, so under MPI
        # every rank fails alike.
        item.stash[_missing_key] = []
        item.stash[_failed_key] = []
        item.stash[_count_key] = 0
        # Not a stand-in for a test run elsewhere (an item that checks its goldens in this
        # session, as nrn_scripts items do, says so with ``checks_goldens_here``). Which
        # tests ran is kept only for --nrn-unused, and the per-test lists only while the
        # test runs: a session of many tests must not grow with each.
        here = isinstance(item, pytest.Function) or getattr(item, "checks_goldens_here", False)
        if self.unused_mode and here:
            self._ran_here.add(item.nodeid)
        try:
            result = yield
        except (Exception, pytest.fail.Exception) as error:
            # The test's own failure after failed checks: both are reported.
            message = self._failures(item)
            if message:
                error.add_note("\n" + message)
            raise
        finally:
            failed = item.stash[_failed_key]
            del item.stash[_failed_key]
        message = self._failures(item, failed)
        del item.stash[_missing_key]
        del item.stash[_count_key]
        if message:
            pytest.fail(message, pytrace=False)
        return result

    def _failures(self, item: pytest.Item, failed: list[str] | None = None) -> str:
        """One report of the test's failed checks and the goldens it wrote."""
        failed = item.stash.get(_failed_key, []) if failed is None else failed
        written = item.stash.get(_missing_key, [])
        parts = []
        if failed:
            count = item.stash.get(_count_key, len(failed))
            parts.append(
                f"{len(failed)} of {count} regression checks of {item.name} failed:\n\n"
                + "\n\n".join(failed)
            )
        if written:
            files = "\n".join(f"  {file}" for file in written)
            parts.append(
                f"{item.name} had no golden files, so they were written:\n{files}\n"
                "Review them and commit them; the next run compares with them."
            )
        return "\n\n".join(parts)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._deselected += len(items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == "nrn_golden_written" and (report.nodeid, str(value)) not in self.written:
                self.written.append((report.nodeid, str(value)))
        self.used.update(str(value) for key, value in report.user_properties if key == "nrn_golden")
        if self.unused_mode and (
            report.when == "call" or (report.when == "setup" and not report.passed)
        ):
            self._outcomes[report.nodeid] = report.outcome

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        session = terminalreporter._session
        stopped = self.regen and (session.shouldfail or session.shouldstop)
        subset = self.regen and self._deselected
        if self.written or stopped or subset:
            terminalreporter.section("golden files written")
            for nodeid, path in self.written:
                terminalreporter.line(f"{path}  ({nodeid})")
            if not self.written:
                terminalreporter.line("none")
            if stopped:
                terminalreporter.line(
                    "--nrn-regen with -x/--maxfail: the run stopped early, so the goldens "
                    "of the tests after the stop were not rewritten"
                )
            if subset:
                terminalreporter.line(
                    f"--nrn-regen with -k/-m/--lf: {self._deselected} deselected tests were "
                    "not run, so their goldens were neither checked nor rewritten"
                )
        self.calibration.summary(terminalreporter)
        if self.unused_mode and not _is_worker(self.config):
            self._unused(terminalreporter)

    # -- unused goldens ------------------------------------------------------------------
    def _unused(self, terminalreporter: Any) -> None:
        session = terminalreporter._session
        incomplete = []
        if self._deselected:
            incomplete.append(f"{self._deselected} tests were deselected (-k, -m, --lf, ...)")
        if session.shouldfail or session.shouldstop:
            incomplete.append("the run stopped early")
        if any("::" in str(arg) for arg in self.config.invocation_params.args):
            incomplete.append("tests were chosen by node id")
        terminalreporter.section("unused golden files")
        if incomplete:
            terminalreporter.line(
                f"--nrn-unused: not checked, as the run was not complete: {'; '.join(incomplete)}. "
                "Run the whole suite (the folders of the modules given) to find unused goldens."
            )
            return
        unused = self.unused_files(session.items)
        if not unused:
            terminalreporter.line("none")
        for path in unused:
            shown = self.show(path)
            if self.unused_mode == "delete":
                path.unlink()
                terminalreporter.line(f"deleted {shown}")
            else:
                terminalreporter.line(shown)
        if unused and self.unused_mode == "report":
            terminalreporter.line("--nrn-unused=delete deletes them")

    def unused_files(self, items: list[pytest.Item]) -> list[Path]:
        """Golden files in the folders of the collected modules that no test used.

        A file belongs to a test by its name. It is unused when no collected test owns
        it, or when its test passed in this process without using it; a test that was
        skipped, failed or ran elsewhere (an MPI child run, an xdist worker) may not have
        reached its checks, so its files count as used.
        """
        stems: dict[Path, dict[str, str]] = {}
        for item in items:
            owners = stems.setdefault(item.path.with_suffix(""), {})
            owners[golden.safe_name(test_stem(item))] = item.nodeid
            owners[golden.legacy_name(test_stem(item))] = item.nodeid
        used = {str((Path(self.config.rootpath) / file).resolve()) for file in self.used}
        out = []
        for folder, owners in stems.items():
            if not folder.is_dir():
                continue
            for pattern in golden.patterns():
                for path in sorted(folder.glob(pattern)):
                    owner = _owner(path.name, owners)
                    if owner is not None and (
                        str(path.resolve()) in used
                        or self._outcomes.get(owner) != "passed"
                        or owner not in self._ran_here
                    ):
                        continue
                    out.append(path)
        return sorted(set(out))


def _owner(filename: str, owners: dict[str, str]) -> str | None:
    """The nodeid of the test whose stem begins ``filename`` (the longest that does)."""
    matches = [
        stem
        for stem in owners
        if filename.startswith(stem + ".") or filename.startswith(stem + "@")
    ]
    return owners[max(matches, key=len)] if matches else None


def test_stem(item: pytest.Item) -> str:
    """The name a test's golden files start with: its name with its parameters, except
    the ``nrn_configs`` configuration, whose combinations all share one golden."""
    return golden_stem(item)


def _is_worker(config: pytest.Config) -> bool:
    """An xdist worker or an MPI rank other than 0 leaves the summary to the controller."""
    return hasattr(config, "workerinput") or (patch.launcher_rank() or 0) != 0
