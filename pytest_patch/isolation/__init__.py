"""Isolated tests (``nrn_isolated``): each runs on a fresh NEURON, reported in this session.

Hoc keeps templates, globals and the files ``load_file`` has read for the life of the
process, so the tests of a hoc model cannot be made independent inside one process. An
isolated test runs in a process of its own, forked from a warm *zygote*: a copy of this
session made before any test ran, which then started NEURON and Patch (the session's
``nrn_mod_dirs`` mechanisms are loaded at configure time) but built no model. A fork
costs milliseconds, where a fresh ``python`` + NEURON + mechanisms costs a second.

The isolated process runs the test's setup, call and teardown and sends each phase's
report back through pytest's own report serialization (as pytest-xdist does); this
session logs them as its own, so outcome, traceback, captured output and junit entries
are those of any other test. A process that dies (segfault, ``os._exit``) fails its test
only. Files a test writes (regression goldens) are written by the isolated process,
which has this session's options: a fork shares them, a fresh process repeats them.

Fork is not used once MPI is initialised in this process or NEURON runs threads (a
forked copy would inherit a world or threads it cannot use): each isolated test then
runs in a fresh ``python -m pytest``. An isolated test that needs N > 1 ranks gets an
``mpiexec -n N`` world of its own (:mod:`pytest_patch.mpi.child`).

Under a direct ``mpiexec ... pytest --with-mpi`` the ranks share one world that cannot be
restarted: rank 0 runs each single-rank isolated test in a fresh ``python -m pytest``
outside that world (no launcher variables in its environment) and broadcasts its reports,
so every rank logs the same outcome. An isolated test that needs N > 1 ranks cannot get
a world of its own there and is skipped on every rank, naming the command that runs it,
unless the session runs that one test alone (it then runs in the launcher's world).

The package is split by role:

- :mod:`.plugin`: the option, ini key and marker; which tests are isolated, in which
  groups; the session's hooks (collection, the zygote, the report header and summary).
- :mod:`.item`: :class:`IsolatedItem`, which stands for the test in this session, runs
  it in its group's process and logs that process's reports.
- :mod:`.remote`: what runs inside an isolated process (its tests' phases, their
  reports sent back) and the zygote's warming.
- :mod:`.processes`: the processes themselves, forked by the zygote or started fresh,
  and their ending with whatever they started.

What isolated processes share with child ``mpiexec`` runs and script items (the options
they repeat, the messages on their socket) is :mod:`pytest_patch.wire`.
"""

from __future__ import annotations

from .item import IsolatedItem
from .plugin import (
    MARKER,
    MARKER_LINE,
    MODES,
    Isolation,
    addoption,
    configure,
    fork_refusal,
    isolation_key,
    mark_errors,
)

__all__ = [
    "MARKER",
    "MARKER_LINE",
    "MODES",
    "IsolatedItem",
    "Isolation",
    "addoption",
    "configure",
    "fork_refusal",
    "isolation_key",
    "mark_errors",
]
