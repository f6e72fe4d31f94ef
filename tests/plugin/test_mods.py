"""nrn_mod_dirs: .mod folders compiled once (cached by content) and loaded on every rank."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# Slow (nrnivmodl builds): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

DATA = Path(__file__).parent / "data"

USES_THE_MECHANISM = """
import pathlib


def test_event_counter(p, section):
    counter = p.EventCounter(section)
    assert counter.get_segment().x == 0.5
    stimulus = p.NetStim()
    stimulus.start, stimulus.number, stimulus.interval = 1, 3, 2
    connection = p.NetCon(stimulus, counter, delay=0.5)
    p.run(10)
    assert (counter.count, counter.last) == (3, 5.5)
    pathlib.Path(f"rank{p.parallel.rank}-of-{p.parallel.size}.ok").touch()
"""

BROKEN = """
NEURON { POINT_PROCESS Broken }
INITIAL { count = = 0 }
"""


def libraries(root: Path) -> list[Path]:
    return sorted((root / ".nrn-mod-cache").glob("*/*/libnrnmech.*"))


def mpiexec() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec") or "mpiexec"


def test_compiled_once_on_rank_0_then_cached_until_changed(pytester: pytest.Pytester) -> None:
    mods = pytester.mkdir("mods")
    shutil.copy(DATA / "mods" / "event_counter.mod", mods)
    pytester.makeini("[pytest]\nnrn_mod_dirs =\n    mods\n")
    pytester.makepyfile(test_counter=USES_THE_MECHANISM)

    # Under mpiexec rank 0 compiles, rank 1 waits, and both load the library.
    first = pytester.run(
        mpiexec(), "-n", "2", sys.executable, "-m", "pytest", "-p", "no:cacheprovider"
    )
    assert first.ret == 0, first.stdout.str() + first.stderr.str()
    ranks = sorted(path.name for path in pytester.path.glob("*.ok"))
    assert ranks == ["rank0-of-2.ok", "rank1-of-2.ok"]
    first.stdout.fnmatch_lines(["nrn mods: *mods -> *.nrn-mod-cache*libnrnmech.* (compiled in *s)"])
    [library] = libraries(pytester.path)
    built = library.stat().st_mtime_ns

    second = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["nrn mods: *mods -> *.nrn-mod-cache*libnrnmech.* (cached)"])
    assert libraries(pytester.path) == [library]
    assert library.stat().st_mtime_ns == built

    with open(mods / "event_counter.mod", "a") as source:
        source.write("\nCOMMENT\nchanged\nENDCOMMENT\n")
    third = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    third.assert_outcomes(passed=1)
    third.stdout.fnmatch_lines(["nrn mods: *mods -> *libnrnmech.* (compiled in *s)"])
    [rebuilt] = [path for path in libraries(pytester.path) if path != library]

    # NEURON itself loads the build a manual nrnivmodl leaves in the current directory.
    manual = pytester.mkdir(rebuilt.parent.name)
    shutil.copy(rebuilt, manual)
    clash = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert clash.ret == pytest.ExitCode.USAGE_ERROR
    clash.stderr.fnmatch_lines(
        ["ERROR: NEURON already has mechanisms named EventCounter, *Delete that folder*"]
    )


def test_compile_error_shows_the_compiler_message(pytester: pytest.Pytester) -> None:
    pytester.mkdir("broken")
    pytester.path.joinpath("broken", "broken.mod").write_text(BROKEN)
    pytester.makeini("[pytest]\nnrn_mod_dirs = broken\n")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: nrnivmodl could not compile the mod folder *broken (broken.mod):",
            "*Illegal*",
            "*INITIAL { count = = 0 }*",
        ]
    )
    assert "Traceback" not in result.stderr.str()
    assert libraries(pytester.path) == []


def test_missing_or_empty_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest_subprocess("--nrn-mod-dir", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --nrn-mod-dir: the mod folder *nowhere does not exist.*"])

    pytester.mkdir("empty")
    pytester.makeini("[pytest]\nnrn_mod_dirs = empty\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: nrn_mod_dirs: *empty contains no .mod files."])


def test_cache_keeps_several_builds_per_folder_and_rebuilds_a_damaged_one(
    pytester: pytest.Pytester,
) -> None:
    mods = pytester.mkdir("mods")
    source = mods / "event_counter.mod"
    shutil.copy(DATA / "mods" / "event_counter.mod", mods)
    original = source.read_text()
    pytester.makeini("[pytest]\nnrn_mod_dirs = mods\n")
    pytester.makepyfile(test_counter=USES_THE_MECHANISM)

    def run(header: str) -> None:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"nrn mods: *mods -> *libnrnmech.* ({header})"])

    run("compiled in *s")
    [first] = libraries(pytester.path)
    built = first.stat().st_mtime_ns
    source.write_text(original.replace("count = count + 1", "count = count + 1 + 0"))
    run("compiled in *s")
    source.write_text(original)  # the change undone: its build is still there
    run("cached")
    assert first in libraries(pytester.path) and len(libraries(pytester.path)) == 2
    assert first.stat().st_mtime_ns == built  # the very library built first, loaded again

    # Bounded: the KEEP most recently used builds of a folder stay, the oldest go first.
    from patch._mods import KEEP

    [changed] = [path for path in libraries(pytester.path) if path != first]
    prefix = changed.parent.parent.name[:-16]
    for age in range(KEEP):
        old = pytester.path / ".nrn-mod-cache" / f"{prefix}{age:016x}"
        (old / "x86_64").mkdir(parents=True)
        os.utime(old, (1e9 - age, 1e9 - age))
    source.write_text(original.replace("last = t", "last = t + 0"))
    run("compiled in *s")
    kept = sorted(path.name for path in (pytester.path / ".nrn-mod-cache").iterdir())
    assert len(kept) == KEEP, kept
    assert f"{prefix}{0:016x}" in kept and f"{prefix}{KEEP - 1:016x}" not in kept
    assert first.parent.parent.name in kept and changed.parent.parent.name in kept

    # A damaged library (truncated) is found out and built again, not loaded.
    source.write_text(original)
    first.write_bytes(b"")
    run("compiled in *s")
    assert first.stat().st_size > 0
    run("cached")

    # --nrn-clear-mod-cache starts from nothing.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--nrn-clear-mod-cache")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["nrn mods: *mods -> *libnrnmech.* (compiled in *s)"])
    assert libraries(pytester.path) == [first]


def test_mod_dirs_on_one_line_are_several_folders(pytester: pytest.Pytester) -> None:
    for name in ("mod/a", "mod/b"):
        pytester.mkdir("mod") if not (pytester.path / "mod").exists() else None
        pytester.mkdir(name)
    shutil.copy(DATA / "mods" / "event_counter.mod", pytester.path / "mod" / "a")
    (pytester.path / "mod" / "b" / "leak3.mod").write_text(
        "NEURON { SUFFIX leak3 NONSPECIFIC_CURRENT i }\n"
        "ASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = 0.0001 * (v + 70) }\n"
    )
    pytester.makeini("[pytest]\nnrn_mod_dirs = mod/a mod/b\n")
    pytester.makepyfile(
        test_both=USES_THE_MECHANISM
        + """

def test_leak3(p, section):
    section.insert("leak3")
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["nrn mods: *mod/a -> *", "nrn mods: *mod/b -> *"])


def test_a_session_without_mod_folders_does_not_start_neuron(pytester: pytest.Pytester) -> None:
    # A suite that never asks for the simulator keeps NEURON out of its process (and its
    # children keep their display: NEURON started without one turns graphics off for them).
    pytester.makepyfile(
        test_plain="""
import sys


def test_nothing_started():
    assert "neuron" not in sys.modules
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
