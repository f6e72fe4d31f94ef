"""MPI support: one outcome per test across ranks, one report, no hangs.

Three situations, chosen at configure time:

- ``mpiexec -n N pytest --with-mpi`` (N > 1): :class:`~.session.MPISession` combines
  every test phase over the ranks and guards against deadlocks;
- a serial ``pytest``: :class:`~.child.ChildRuns` runs tests needing N > 1 ranks in a
  child ``mpiexec -n N``;
- always: :class:`~.markers.MarkerRules` checks ``mpi`` marks and gives pytest-mpi's
  markers their meaning.

pytest-patch owns ``--with-mpi``, ``--only-mpi``, the ``mpi`` markers and pytest-mpi's
fixtures (same names, same meaning). When pytest-mpi is installed too, its plugin is
blocked through pluggy (as ``-p no:pytest_mpi`` would), since it would skip in a serial
run the tests that pytest-patch runs in a child ``mpiexec``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from importlib.metadata import entry_points
from typing import Any

import pytest

import patch
from patch.exceptions import PatchError

from .._validate import flag
from . import _options
from .child import ChildRuns
from .markers import MarkerRules, add_marker_lines

__all__ = ["addoption", "configure", "pytest_load_initial_conftests"]

_NO_CHILD_RUNS = (
    "marked mpi and mpi_child_runs = false (as pytest-mpi, MPI tests are skipped in a serial "
    "run): run `mpiexec -n {n} python -m pytest --with-mpi`"
)

_REFUSAL = (
    "This test needs {n} MPI ranks, but pytest was started by an MPI launcher without "
    "--with-mpi, and pytest-patch does not start mpiexec inside an MPI run. Run "
    "`mpiexec -n {n} python -m pytest --with-mpi`, or run pytest without mpiexec to let "
    "pytest-patch start mpiexec for it."
)


_NOT_LAUNCHED = (
    "mpi: --with-mpi, but this process was not started by mpiexec: running on 1 rank, tests "
    "marked mpi(min_size>1) are skipped. Use `mpiexec -n N python -m pytest --with-mpi`, or "
    "leave out --with-mpi to let pytest-patch start mpiexec for them."
)
_ONE_RANK = "mpi: 1 rank (--with-mpi under mpiexec -n 1): tests marked mpi(min_size>1) are skipped"

#: pytest-mpi's plugin name (its ``pytest11`` entry point).
PYTEST_MPI = "pytest_mpi"
#: The name :class:`~.session.MPISession` is registered under.
_SESSION = "patch-mpi-session"


def addoption(group: Any, parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Register ``--mpi-timeout``, ``--with-mpi`` and ``--only-mpi``; block pytest-mpi."""
    group.addoption(
        _options.TIMEOUT,
        type=_options.parse_timeout,
        default=None,
        metavar="SECONDS",
        help="under MPI, once one rank has finished a test phase, how long to wait for the "
        "others before reporting a deadlock naming the missing ranks with their Python "
        "stacks and ending the run; a rank stuck in a collective that another rank left is "
        f"reported within seconds (default: ini {_options.TIMEOUT_INI} or "
        f"{_options.DEFAULT_TIMEOUT:g}).",
    )
    parser.addini(
        _options.CHILD_RUNS_INI,
        type="bool",
        default=True,
        help="whether a serial pytest runs tests marked mpi(min_size=N), N > 1, in a child "
        "`mpiexec -n N` (default true); false skips them, as pytest-mpi does.",
    )
    group.addoption(
        _options.LAUNCHER,
        default=None,
        metavar="COMMAND",
        help="the command that starts a serial session's child MPI runs, before `-n N` "
        "(e.g. 'mpirun --oversubscribe', 'srun'; default: the mpiexec of the MPI library "
        f"that mpi4py loads; ini {_options.LAUNCHER_INI}).",
    )
    parser.addini(
        _options.LAUNCHER_INI,
        help=f"default for {_options.LAUNCHER}.",
        default="",
    )
    parser.addini(
        _options.TIMEOUT_INI,
        help=f"default for {_options.TIMEOUT}, in seconds.",
        default=str(_options.DEFAULT_TIMEOUT),
    )
    # pytest-mpi registered before this plugin has added the same two options already.
    options_exist = pluginmanager.has_plugin(PYTEST_MPI)
    pluginmanager.set_blocked(PYTEST_MPI)
    if options_exist:
        return
    group.addoption(
        _options.WITH_MPI,
        action="store_true",
        default=False,
        help="run MPI tests; pair it with mpiexec (`mpiexec -n 2 pytest --with-mpi`).",
    )
    group.addoption(
        _options.ONLY_MPI,
        action="store_true",
        default=False,
        help="run only the tests marked mpi; pair it with mpiexec.",
    )


def configure(config: pytest.Config) -> None:
    """Register the markers and the plugin class that fits how pytest was started."""
    add_marker_lines(config)
    timeout = _options.timeout(config)
    launched = patch.launched_by_mpi()
    with_mpi = _options.wants_mpi(config)
    size = 1
    if with_mpi and launched:
        comm = _world()
        size = comm.Get_size()
        if size > 1:
            from .session import MPISession

            session = MPISession(config, comm, timeout)
            config.pluginmanager.register(session, _SESSION)
            mode = session.describe()
        else:
            mode = _ONE_RANK
    elif with_mpi:
        mode = _NOT_LAUNCHED
    else:
        refusal = _REFUSAL if launched else None
        if not flag(config, _options.CHILD_RUNS_INI) and refusal is None:
            refusal = _NO_CHILD_RUNS
        children = ChildRuns(
            config,
            timeout,
            refusal,
            skip=refusal == _NO_CHILD_RUNS,
            launcher=_options.launcher(config),
        )
        config.pluginmanager.register(children, "patch-mpi-children")
        mode = children.describe()
    config.pluginmanager.register(_Header([_owner(), mode]), "patch-mpi-header")
    rules = MarkerRules(
        with_mpi=with_mpi, only_mpi=bool(config.getoption("only_mpi")), world_size=size
    )
    config.pluginmanager.register(rules, "patch-mpi-markers")


def _world() -> Any:
    """``COMM_WORLD``, with NEURON joined to it and hoc errors kept from aborting MPI."""
    try:
        context = patch.p.parallel  # joins NEURON and mpi4py to one world
    except PatchError as error:  # Patch explains a world it cannot set up: show just that
        raise pytest.UsageError(f"--with-mpi: {error}") from error
    # A hoc error on one rank must be that test's exception, not MPI_Abort of the run.
    context.mpiabort_on_error(0)
    return context.comm


def _owner() -> str:
    """Who runs MPI tests in this session, for the header."""
    owner = "mpi: pytest-patch runs MPI tests (--with-mpi, mpi markers)"
    if entry_points(group="pytest11", name=PYTEST_MPI):
        owner += "; pytest-mpi's plugin stands down"
    return owner


class _Header:
    """The MPI lines of the session header: who runs MPI tests, and how in this session."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def pytest_report_header(self) -> list[str]:
        return self.lines


class _OneUsageError:
    """Under ``mpiexec ... pytest --with-mpi``: rank 0 alone prints a usage error.

    pytest prints a usage error after the session has ended, outside any reporting hook,
    so the terminal of ranks > 0 being off does not keep them quiet; this does, and every
    rank still ends with pytest's usage-error status. Once the ranks have met at the end
    of configuration (:class:`~.session.MPISession`), rank 0 prints every rank's errors;
    an error before that is one every rank has, from the same options and ini file.
    """

    def __init__(self, rank: int) -> None:
        self.rank = rank

    @pytest.hookimpl(wrapper=True)
    def pytest_cmdline_main(
        self, config: pytest.Config
    ) -> Generator[None, int | pytest.ExitCode, int | pytest.ExitCode]:
        try:
            return (yield)
        except pytest.UsageError:
            if self.rank > 0:
                return pytest.ExitCode.USAGE_ERROR
            errors = getattr(config.pluginmanager.get_plugin(_SESSION), "usage_errors", None)
            if errors:
                raise pytest.UsageError(*errors) from None
            raise


class _QuietTerminal:
    """On ranks > 0: pytest's terminal reporter writes nowhere.

    The reporter still exists (rather than ``-p no:terminal``), since plugins write through
    it, e.g. pytest-timeout's stack dump when a test times out. It takes the standard
    output it finds when it is made, in pytest's ``pytest_configure``: this plugin swaps
    that for the null device first, and back last.
    """

    def __init__(self) -> None:
        self.stdout = sys.stdout

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self) -> None:
        self.stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")


class _QuietTerminalEnd:
    def __init__(self, quiet: _QuietTerminal) -> None:
        self.quiet = quiet

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self) -> None:
        sys.stdout = self.quiet.stdout


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before anything prints or starts coverage: quiet ranks > 0, one coverage file each."""
    rank = patch.launcher_rank()
    options = early_config.known_args_namespace
    if rank is None or not any(getattr(options, name, False) for name in ("with_mpi", "only_mpi")):
        return
    data_file = os.environ.get("COVERAGE_FILE", ".coverage")
    if not data_file.endswith(f".rank{rank}"):
        os.environ["COVERAGE_FILE"] = f"{data_file}.rank{rank}"
    early_config.pluginmanager.register(_OneUsageError(rank), "patch-mpi-usage-error")
    if rank > 0:
        # Rank 0 prints the one report.
        quiet = _QuietTerminal()
        early_config.pluginmanager.register(quiet, "patch-mpi-quiet-terminal")
        early_config.pluginmanager.register(_QuietTerminalEnd(quiet), "patch-mpi-quiet-end")
