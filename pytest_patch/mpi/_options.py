"""Option names, defaults and parsers of the MPI support."""

from __future__ import annotations

import shlex
import shutil

import pytest

from .._validate import positive_seconds

WITH_MPI = "--with-mpi"
ONLY_MPI = "--only-mpi"
TIMEOUT = "--mpi-timeout"
TIMEOUT_INI = "mpi_timeout"
CHILD_RUNS_INI = "mpi_child_runs"
LAUNCHER = "--mpi-launcher"
LAUNCHER_INI = "mpi_launcher"
DEFAULT_TIMEOUT = 60.0


def parse_timeout(value: str, name: str = TIMEOUT) -> float:
    """A ``--mpi-timeout`` (or ``mpi_timeout`` ini) value: a positive number of seconds."""
    return positive_seconds(value, name)


def wants_mpi(config: pytest.Config) -> bool:
    """Whether the session was asked to run MPI tests (``--with-mpi`` or ``--only-mpi``)."""
    return bool(config.getoption("with_mpi") or config.getoption("only_mpi"))


def launcher(config: pytest.Config) -> list[str] | None:
    """The command that starts child runs (``--mpi-launcher`` or ini ``mpi_launcher``), as
    words (``["mpirun", "--oversubscribe"]``); ``None`` for the default ``mpiexec``."""
    given = config.getoption("mpi_launcher") or str(config.getini(LAUNCHER_INI)).strip()
    if not given:
        return None
    words = shlex.split(given)
    if shutil.which(words[0]) is None:
        raise pytest.UsageError(
            f"{LAUNCHER}={given!r}: {words[0]!r} is not a program on PATH; give the MPI "
            "launcher that starts your ranks, e.g. `mpiexec`, `mpirun --oversubscribe` or "
            "`srun`."
        )
    return words


def timeout(config: pytest.Config) -> float:
    """The deadlock timeout in seconds, from the command line or the ini file."""
    given = config.getoption("mpi_timeout")
    if given is not None:
        return float(given)
    return parse_timeout(str(config.getini(TIMEOUT_INI)), TIMEOUT_INI)
