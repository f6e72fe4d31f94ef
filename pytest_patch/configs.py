"""``@pytest.mark.nrn_configs``: one test, run in every configuration, against one golden.

``nrn_configs(ranks=(1, 2), threads=(1, 2), cvode=(False,), coreneuron=(False, True))``
parametrizes the test over every combination (ids such as
``test_ring[ranks=2-threads=1-coreneuron]``). A combination needing N > 1 ranks is an
``mpi(min_size=N)`` test, so a serial session runs it in its child ``mpiexec -n N``, batched
with every other test of N ranks. All combinations share the test's golden files: the
regression fixtures name them without the configuration, so "the same results in every
configuration" is "each one matches the golden".
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest

import patch

from ._validate import is_integer
from .mods import coreneuron_mode, ensure_coreneuron

MARKER = "nrn_configs"
KEYS = ("ranks", "threads", "cvode", "coreneuron")
_REGRESSION_FIXTURES = ("trace_regression", "spike_regression", "feature_regression")


class ConfigsWarning(pytest.PytestWarning):
    """A test runs in several configurations but compares them with nothing."""


@dataclass(frozen=True)
class Config:
    """One combination of ``nrn_configs``."""

    ranks: int = 1
    threads: int = 1
    cvode: bool = False
    coreneuron: bool = False

    @property
    def id(self) -> str:
        parts = [f"ranks={self.ranks}", f"threads={self.threads}"]
        return "-".join(parts + ["cvode"] * self.cvode + ["coreneuron"] * self.coreneuron)

    def impossible(self) -> str | None:
        """Why this combination cannot run, if it cannot."""
        if self.coreneuron and self.cvode:
            return (
                "CoreNEURON has no variable time step: coreneuron=True with cvode=True cannot run"
            )
        return None


_current: Config | None = None


def current_config() -> Config:
    """The configuration the running test runs in (the default one outside ``nrn_configs``)."""
    if _current is not None:
        return _current
    return Config(ranks=patch.p.parallel.size) if "neuron" in sys.modules else Config()


def addoption(group: Any, parser: pytest.Parser) -> None:
    """Nothing to add: the marker carries the configurations."""


def configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(ranks=(1,), threads=(1,), cvode=(False,), coreneuron=(False,)): run the "
        "test once per combination, each against the same golden files.",
    )
    config.pluginmanager.register(_Plugin(), "patch-configs")


def _values(key: str, value: Any) -> tuple[Any, ...]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not values:
        raise ValueError(f"{key}=() gives no configuration: give at least one value")
    if key in ("ranks", "threads"):
        if not all(is_integer(v) and v >= 1 for v in values):
            raise ValueError(f"{key} must be whole numbers >= 1, not {value!r}")
    elif not all(isinstance(v, bool) for v in values):
        raise ValueError(f"{key} must be True or False, not {value!r}")
    return tuple(dict.fromkeys(values))


def configurations(marker: pytest.Mark) -> list[Config]:
    """Every combination the marker asks for; ``ValueError`` saying what is wrong."""
    if marker.args:
        raise ValueError(f"{MARKER} takes keywords only ({', '.join(KEYS)}), not {marker.args!r}")
    unknown = sorted(set(marker.kwargs) - set(KEYS))
    if unknown:
        raise ValueError(
            f"{MARKER} has no {', '.join(unknown)}: its keywords are {', '.join(KEYS)}"
        )
    axes = [_values(key, marker.kwargs.get(key, (getattr(Config, key),))) for key in KEYS]
    return [Config(*combination) for combination in itertools.product(*axes)]


def golden_stem(item: pytest.Item) -> str:
    """``item``'s name without its configuration, shared by all its configurations."""
    callspec = getattr(item, "callspec", None)
    config = callspec.params.get("nrn_config") if callspec is not None else None
    if not isinstance(config, Config):
        return item.name
    name = item.name
    for piece in (f"-{config.id}", f"{config.id}-", config.id):
        if piece in name:
            name = name.replace(piece, "", 1)
            break
    return name.replace("[]", "")


# Why CoreNEURON cannot run the running test's model (set by the finitialize guard).
_refusal: list[str] = []


def _refuse_missing_mechanisms() -> None:
    if not patch.p.coreneuron.enable:
        return
    missing = patch.coreneuron_unavailable(used=True)
    if not missing:
        return
    by_reason: dict[str, list[str]] = {}
    for name, why in missing.items():
        by_reason.setdefault(why, []).append(name)
    reason = "CoreNEURON cannot run this model: " + "; ".join(
        f"it uses {', '.join(names)}, and {why[0].lower()}{why[1:]}"
        for why, names in by_reason.items()
    )
    _refusal[:] = [reason]
    raise patch.exceptions.MechanismError(reason)


class _Plugin:
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        except BaseException as error:
            if not _refusal:
                raise
            reason = _refusal[0]
            # The refused run's traceback holds the test's model: let it go.
            while error is not None:
                traceback.clear_frames(error.__traceback__)
                error = error.__cause__ or error.__context__  # type: ignore[assignment]
        if coreneuron_mode(item.config) == "false":
            reason += " (nrn_coreneuron = false: set it to auto to build them for CoreNEURON)"
        pytest.skip(reason)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        marker = metafunc.definition.get_closest_marker(MARKER)
        if marker is None:
            return
        try:
            combinations = configurations(marker)
        except ValueError as error:
            pytest.fail(f"{metafunc.definition.nodeid}: {error}", pytrace=False)
        if not set(_REGRESSION_FIXTURES) & set(metafunc.fixturenames):
            metafunc.definition.warn(
                ConfigsWarning(
                    f"{metafunc.definition.name} runs in {len(combinations)} configurations but "
                    "uses no regression fixture, so nothing compares them: check its output "
                    "with trace_regression, spike_regression or feature_regression"
                )
            )
        most = max(c.ranks for c in combinations)
        cores = os.cpu_count() or 1
        if most > cores:
            metafunc.definition.warn(
                ConfigsWarning(
                    f"{metafunc.definition.name} asks for {most} ranks on a machine with "
                    f"{cores} cores: the mpich wheel oversubscribes by itself (slowly); Open "
                    "MPI refuses unless launched with --mpi-launcher 'mpirun --oversubscribe'"
                )
            )
        if any(c.coreneuron for c in combinations):
            # Build the mod folders for CoreNEURON now (cached), on every rank alike.
            ensure_coreneuron(metafunc.config)
        params = []
        for combination in combinations:
            marks: list[Any] = []
            why = combination.impossible()
            if why:
                marks.append(pytest.mark.skip(reason=f"impossible combination: {why}"))
            if combination.ranks > 1:
                marks.append(pytest.mark.mpi(min_size=combination.ranks))
            params.append(pytest.param(combination, marks=marks, id=combination.id))
        metafunc.parametrize("nrn_config", params, indirect=True)


# Autouse: every test may be parametrized by nrn_configs, and the configuration must be
# in place before the fixtures that build and run the model. Without the marker it
# returns at once, starting nothing.
@pytest.fixture(name="nrn_config", autouse=True)
def nrn_config_fixture(request: pytest.FixtureRequest) -> Generator[Config | None, None, None]:
    """The configuration this test runs in, set by ``@pytest.mark.nrn_configs`` (``None``
    for a test without it; :func:`current_config` tells any code).

    The simulator is put in it after the ``p`` fixture's reset: NEURON's thread count,
    CVode, CoreNEURON. A combination whose rank count is not this world's is skipped
    (a serial session runs it in a child ``mpiexec -n N``).
    """
    global _current
    config = getattr(request, "param", None)
    if not isinstance(config, Config):
        yield None
        return
    p = request.getfixturevalue("p")
    size = p.parallel.size
    if size != config.ranks:
        pytest.skip(
            f"configuration {config.id} runs on {config.ranks} rank(s) and this world has "
            f"{size}: a serial pytest runs each rank count in its own mpiexec"
        )
    p.parallel.nthread(config.threads)
    if config.cvode:
        p.cvode_active(1)  # through the run system, which steps by what it was told
    p.coreneuron.enable = config.coreneuron
    p.coreneuron.verbose = 0
    _current = config
    # CoreNEURON aborts the process on a mechanism it does not have: refuse the run at
    # finitialize instead, and report the test as skipped with the reason.
    guard = p.FInitializeHandler(0, _refuse_missing_mechanisms) if config.coreneuron else None
    try:
        yield config
    finally:
        del guard
        _refusal.clear()
        _current = None
        p.coreneuron.enable = False
        p.cvode_active(0)
        p.parallel.nthread(1)
