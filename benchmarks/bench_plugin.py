"""The plugin's cost per test, and how soon a deadlock is reported.

    python benchmarks/bench_plugin.py [--tests 1000] [--ranks 2] [--repeat 3]
                                      [--memory-tests 10000] [--only serial|memory]

1. A suite of trivial tests run with and without pytest-patch. The tests only use the
   ``p`` fixture. With the plugin off (``-p no:pytest_patch``) a conftest gives them a
   trivial ``p`` instead. Each configuration runs twice, with a small and with the full
   suite, and the difference between the two is divided by the number of extra tests, so
   start-up (imports, MPI, NEURON) cancels out; each run is the best of ``--repeat``.
   Printed: ms per test with and without the plugin, the ms per test the plugin adds, and
   their ratio. The same for tests that do not use ``p``, in a session that has NEURON and
   matplotlib loaded (the plugin's leak check of such tests).
2. The MPI session's own cost: the time pytest spends making each test's three reports
   (timed inside pytest, the slowest rank's), under ``mpiexec -n N`` with and without
   ``--with-mpi`` (without it, each rank runs a serial session of its own). The difference
   is the outcome agreement of every test phase across ranks (waiting for the other ranks
   included) and the count of Patch's collectives.
3. Deadlock to report: one rank raises before a barrier the other waits in; the time from
   the raise to the report's first line on the terminal (``--mpi-timeout`` is 60 s).

4. Memory: a suite of ``--memory-tests`` tests that each build a section with a synapse
   through ``p``, with and without the plugin; the resident memory of the pytest process
   is read after every tenth of the tests. Printed: the growth from the first tenth to
   the end, with and without the plugin, and the difference per test (the growth that
   the plugin adds).

A busy machine makes the figures noisy: the serial per-test cost is also given as the
median of paired runs (plugin off, then on, each pair run back to back).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_trivial(p, i):
    assert p is not None
"""

# Tests without the p fixture in a session that has NEURON (a model's conftest or modules
# import it) and a plotting library loaded, as a model repository's session has.
PLAIN_SUITE = """
import matplotlib.pyplot
import neuron
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_plain(i):
    assert i >= 0
"""

# The trivial ``p`` applies only when the plugin is off, so it never shadows the real one.
CONFTEST = """
import os
import time

import pytest


class LocalP:
    @pytest.fixture(name="p")
    def p_fixture(self):
        from patch import p

        return p


# Time spent making each test's reports (with --with-mpi: agreeing on them across
# ranks), written per rank to $BENCH_TIMING.<rank> at the end.
class MakeReportTimer:
    def __init__(self):
        self.seconds = 0.0
        self.tests = 0

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            self.seconds += time.perf_counter() - start
            self.tests += call.when == "call"

    def pytest_sessionfinish(self):
        rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
        if os.environ.get("BENCH_TIMING") and self.tests:
            with open(f"{os.environ['BENCH_TIMING']}.{rank}", "w") as file:
                file.write(repr(self.seconds / self.tests))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if not config.pluginmanager.has_plugin("pytest_patch"):
        config.pluginmanager.register(LocalP(), "local-p")
    # Registered last, so its wrapper is the outermost: it times the MPI session's too.
    config.pluginmanager.register(MakeReportTimer(), "make-report-timer")
"""

# Rank 1 raises before the barrier rank 0 waits in, after noting when.
DEADLOCK = """
import time

import pytest


def test_rank_1_gives_up(p):
    if p.parallel.rank == 1:
        with open({stamp!r}, "w") as file:
            file.write(repr(time.time()))
        raise ValueError("rank 1 gives up")
    p.parallel.barrier()
"""

MEMORY_SUITE = """
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_model(p, i):
    soma = p.Section(name="soma")
    synapse = p.ExpSyn(soma(0.5))
    assert synapse.get_segment().sec is soma
"""

# Resident memory after every tenth of the tests, to $BENCH_RSS (one number a line, kB).
MEMORY_CONFTEST = """
import os

import pytest

TESTS = {count}
done = 0


def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    global done
    done += 1
    if done % (TESTS // 10) == 0:
        with open(os.environ["BENCH_RSS"], "a") as file:
            file.write(f"{{rss_kb()}}\\n")
"""

SMALL = 20
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"


def seconds(
    folder: Path, count: int, plugin: bool, ranks: int, with_mpi: bool = True, suite: str = SUITE
) -> float:
    """Wall time of one pytest run of ``count`` trivial tests."""
    (folder / "test_bench.py").write_text(suite.format(count=count))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not plugin:
        command += ["-p", "no:pytest_patch"]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command, *(["--with-mpi"] if with_mpi else [])]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return elapsed


def per_test_ms(
    folder: Path,
    count: int,
    plugin: bool,
    ranks: int,
    repeat: int,
    with_mpi: bool = True,
    suite: str = SUITE,
) -> float:
    """Milliseconds per test, start-up excluded (slope between a small and a full suite)."""
    small = min(seconds(folder, SMALL, plugin, ranks, with_mpi, suite) for _ in range(repeat))
    full = min(seconds(folder, count, plugin, ranks, with_mpi, suite) for _ in range(repeat))
    return (full - small) * 1000 / (count - SMALL)


def report_ms(
    folder: Path, count: int, ranks: int, repeat: int, with_mpi: bool
) -> tuple[float, float]:
    """Milliseconds per test spent making its reports, best of ``repeat`` runs (timed
    inside pytest, so start-up does not count): on the rank that spent least (it arrives
    last at each agreement, so it pays for the agreement itself) and on the one that
    spent most (it also waits for the others)."""
    timing = folder / "timing"
    least = most = float("inf")
    for _ in range(repeat):
        os.environ["BENCH_TIMING"] = str(timing)
        try:
            seconds(folder, count, True, ranks, with_mpi)
        finally:
            del os.environ["BENCH_TIMING"]
        per_rank = [float(timing.with_name(f"timing.{rank}").read_text()) for rank in range(ranks)]
        least, most = min(least, min(per_rank)), min(most, max(per_rank))
    return least * 1000, most * 1000


def deadlock_report_seconds(folder: Path, ranks: int) -> float:
    """Seconds from one rank's raise before a barrier to the report on the terminal."""
    stamp = folder / "raised-at"
    (folder / "test_bench.py").write_text(DEADLOCK.format(stamp=str(stamp)))
    command = [
        MPIEXEC,
        "-n",
        str(ranks),
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--with-mpi",
        "--mpi-timeout=60",
    ]
    process = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    reported = None
    for line in process.stdout:
        if reported is None and line.startswith("MPI deadlock: rank"):
            reported = time.time()
    process.wait()
    if reported is None:
        raise SystemExit(f"no deadlock report from: {' '.join(command)}")
    return reported - float(stamp.read_text())


def paired_ms(
    folder: Path, count: int, pairs: int, suite: str = SUITE
) -> tuple[float, float, float]:
    """Serial ms per test off and on, and their ratio: medians over ``pairs`` pairs of
    runs, each pair (small and full suite, plugin off then on) run back to back."""
    offs, ons, ratios = [], [], []
    for _ in range(pairs):
        off = per_test_ms(folder, count, False, 1, 1, suite=suite)
        on = per_test_ms(folder, count, True, 1, 1, suite=suite)
        offs.append(off)
        ons.append(on)
        ratios.append(on / off if off > 0 else float("nan"))
    return statistics.median(offs), statistics.median(ons), statistics.median(ratios)


def memory_growth_kb(folder: Path, count: int, plugin: bool) -> list[int]:
    """Resident memory (kB) after each tenth of ``count`` model-building tests."""
    suite = folder / "memory"
    shutil.rmtree(suite, ignore_errors=True)
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST + MEMORY_CONFTEST.format(count=count))
    (suite / "test_memory.py").write_text(MEMORY_SUITE.format(count=count))
    rss = suite / "rss"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not plugin:
        command += ["-p", "no:pytest_patch"]
    done = subprocess.run(
        command,
        cwd=suite,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BENCH_RSS": str(rss)},
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return [int(line) for line in rss.read_text().split()]


def memory(folder: Path, count: int) -> None:
    off = memory_growth_kb(folder, count, False)
    on = memory_growth_kb(folder, count, True)
    tests = count - count // 10
    grown = {"off": (off[-1] - off[0]) / 1024, "on": (on[-1] - on[0]) / 1024}
    print(
        f"\nmemory over {count} tests building a section and a synapse (resident, from test "
        f"{count // 10} to {count}): plugin off +{grown['off']:.1f} MB, plugin on "
        f"+{grown['on']:.1f} MB; the plugin adds "
        f"{(grown['on'] - grown['off']) * 1024 * 1024 / tests:.0f} "
        "B per test (goal: none)"
    )
    print("  resident MB after each tenth, off: " + " ".join(f"{kb / 1024:.0f}" for kb in off))
    print("  resident MB after each tenth, on:  " + " ".join(f"{kb / 1024:.0f}" for kb in on))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-tests", type=int, default=10000)
    parser.add_argument("--only", choices=("serial", "memory"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as name:
        folder = Path(name)
        (folder / "conftest.py").write_text(CONFTEST)
        if args.only in (None, "serial"):
            off, on, ratio = paired_ms(folder, args.tests, args.repeat)
            print(
                f"{args.tests} trivial tests using the p fixture, serial, median of "
                f"{args.repeat} paired runs: plugin off {off:.2f} ms, on {on:.2f} ms per test; "
                f"the plugin adds {on - off:.2f} ms per test (goal <= 1 ms), ratio {ratio:.2f}"
            )
            off, on, ratio = paired_ms(folder, args.tests, args.repeat, PLAIN_SUITE)
            print(
                f"{args.tests} trivial tests without the p fixture, NEURON and matplotlib "
                f"loaded, serial, median of {args.repeat} paired runs: plugin off {off:.2f} ms, "
                f"on {on:.2f} ms per test; the plugin adds {on - off:.2f} ms per test "
                f"(goal <= 1 ms), ratio {ratio:.2f}"
            )
        if args.only in (None, "memory"):
            memory(folder, args.memory_tests)
        if args.only is not None:
            return
        print(f"{args.tests} trivial tests using the p fixture")
        print(f"{'run':<22}{'plugin off':>12}{'plugin on':>12}{'added':>12}{'ratio':>8}")
        for ranks in (1, args.ranks):
            off = per_test_ms(folder, args.tests, False, ranks, args.repeat)
            on = per_test_ms(folder, args.tests, True, ranks, args.repeat)
            label = "serial" if ranks == 1 else f"mpiexec -n {ranks}"
            print(
                f"{label:<22}{off:>9.2f} ms{on:>9.2f} ms{on - off:>9.2f} ms"
                f"{on / off if off > 0 else float('nan'):>8.2f}"
            )
        alone = report_ms(folder, args.tests, args.ranks, args.repeat, with_mpi=False)
        agreed = report_ms(folder, args.tests, args.ranks, args.repeat, with_mpi=True)
        print(
            f"\nmpiexec -n {args.ranks}, making a test's three reports: {alone[0]:.3f} ms with "
            f"a serial session on each rank, {agreed[0]:.3f} ms with --with-mpi: outcome "
            f"agreement and collective bookkeeping {agreed[0] - alone[0]:.3f} ms per test "
            f"(goal <= 0.5 ms); {agreed[1]:.3f} ms on the rank that waits for the other"
        )
        waits = [deadlock_report_seconds(folder, args.ranks) for _ in range(args.repeat)]
        print(
            f"one rank raises before a barrier on {args.ranks} ranks: reported after "
            + ", ".join(f"{wait:.1f}" for wait in waits)
            + " s (goal <= 5 s; --mpi-timeout 60 s)"
        )


if __name__ == "__main__":
    main()
