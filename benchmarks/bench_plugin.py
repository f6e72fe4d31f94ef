"""The plugin's cost per test: a suite of trivial tests run with and without pytest-patch.

    python benchmarks/bench_plugin.py [--tests 500] [--ranks 2] [--repeat 3]

The suite's tests only use the ``p`` fixture. With the plugin off (``-p no:pytest_patch``)
a conftest gives them a trivial ``p`` instead. Each configuration runs twice, with a
small and with the full suite, and the difference between the two is divided by the
number of extra tests, so start-up (imports, MPI, NEURON) cancels out; each run is the
best of ``--repeat``. Printed: ms per test with and without the plugin, the ms per test
the plugin adds, and their ratio. A busy machine makes the figures noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
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

# The trivial ``p`` applies only when the plugin is off, so it never shadows the real one.
CONFTEST = """
import pytest


class LocalP:
    @pytest.fixture(name="p")
    def p_fixture(self):
        from patch import p

        return p


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("pytest_patch"):
        config.pluginmanager.register(LocalP(), "local-p")
"""

SMALL = 20


def seconds(folder: Path, count: int, plugin: bool, ranks: int) -> float:
    """Wall time of one pytest run of ``count`` trivial tests."""
    (folder / "test_bench.py").write_text(SUITE.format(count=count))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not plugin:
        command += ["-p", "no:pytest_patch"]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
        command = [mpiexec, "-n", str(ranks), *command, "--with-mpi"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return elapsed


def per_test_ms(folder: Path, count: int, plugin: bool, ranks: int, repeat: int) -> float:
    """Milliseconds per test, start-up excluded (slope between a small and a full suite)."""
    small = min(seconds(folder, SMALL, plugin, ranks) for _ in range(repeat))
    full = min(seconds(folder, count, plugin, ranks) for _ in range(repeat))
    return (full - small) * 1000 / (count - SMALL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as name:
        folder = Path(name)
        (folder / "conftest.py").write_text(CONFTEST)
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


if __name__ == "__main__":
    main()
