"""nrn_mod_dirs: .mod folders compiled once (cached by content) and loaded on every rank."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DATA = Path(__file__).parent / "data"

USES_THE_MECHANISM = '''
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
'''

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
    [rebuilt] = libraries(pytester.path)
    assert rebuilt != library  # the stale build was replaced, not kept alongside

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
