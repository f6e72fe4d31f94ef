"""The suite's forked pytest runs (tests/session_zygote.py) are what a real subprocess is."""

import json
import os
import signal
import subprocess
import sys

import pytest
import session_zygote

pytest_plugins = ["pytester"]

# What a run can see of the process it runs in: printed by a test of the inner session.
PROBE = """
import json, os, random, sys

import numpy


def test_probe():
    print("PROBE " + json.dumps({
        "argv0": os.path.basename(sys.argv[0]),
        "path0": sys.path[0],
        "cwd": os.getcwd(),
        "marker": os.environ.get("ZYGOTE_PROBE"),
        "pythonpath_first": os.environ["PYTHONPATH"].split(os.pathsep)[0],
        "neuron": "neuron" in sys.modules,
        "random": random.random(),
        "numpy_random": float(numpy.random.random()),
        "ppid_is_parent": os.getppid() != 1,
        "stdin_eof": sys.stdin.read() == "",
    }))
"""


def _probe(pytester: pytest.Pytester) -> dict:
    result = pytester.runpytest_subprocess("-s", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (line,) = [line for line in result.outlines if line.startswith("PROBE ")]
    return json.loads(line[len("PROBE ") :])


def test_a_forked_run_sees_what_a_real_subprocess_sees(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_probe=PROBE)
    monkeypatch.setenv("ZYGOTE_PROBE", "set by the test")
    forked = [_probe(pytester), _probe(pytester)]
    monkeypatch.setenv("PATCH_NO_FORKSERVER", "1")
    real = _probe(pytester)
    for seen in forked:
        for key in ("argv0", "path0", "cwd", "marker", "pythonpath_first", "neuron", "stdin_eof"):
            assert seen[key] == real[key], key
    assert real["argv0"] == "__main__.py" and real["path0"] == str(pytester.path)
    assert real["neuron"] is False
    # Each run draws its own random numbers, as a new interpreter does (random reseeds
    # itself in a forked child; numpy.random is imported by the run, not the zygote).
    assert forked[0]["random"] != forked[1]["random"]
    assert forked[0]["numpy_random"] != forked[1]["numpy_random"]


def test_runs_are_forked_unless_told_otherwise(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_pid="import os\ndef test_pid():\n    print('PID', os.getppid())\n")

    def parent() -> int:
        result = pytester.runpytest_subprocess("-s", "-q")
        (line,) = [line for line in result.outlines if line.startswith("PID ")]
        return int(line.split()[1])

    assert session_zygote.enabled()
    zygote = parent()
    assert zygote != os.getpid() and parent() == zygote  # one warm interpreter forks them
    monkeypatch.setenv("PATCH_NO_FORKSERVER", "1")
    assert parent() == os.getpid()
    monkeypatch.delenv("PATCH_NO_FORKSERVER")
    # A variable the interpreter reads when it starts needs an interpreter of its own.
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    assert parent() == os.getpid()


def test_exit_codes_signals_and_timeouts_are_the_runs_own(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ends="""
        import os, signal, time

        def test_fails():
            assert False

        def test_killed():
            os.kill(os.getpid(), signal.SIGKILL)

        def test_hangs():
            time.sleep(60)
        """
    )
    assert pytester.runpytest_subprocess("-k", "fails").ret == pytest.ExitCode.TESTS_FAILED
    assert pytester.runpytest_subprocess("-k", "killed").ret == -signal.SIGKILL
    with pytest.raises(pytester.TimeoutExpired):
        pytester.runpytest_subprocess("-k", "hangs", timeout=2)
    # The zygote serves the next run after a killed one.
    assert pytester.runpytest_subprocess("-k", "nothing").ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_run_is_subprocess_run_for_the_suites_own_pytest_commands(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "test_out.py").write_text(
        "import os, sys\n\ndef test_out():\n"
        "    print('OUT', os.getcwd(), os.environ['ZYGOTE_PROBE'], os.getppid())\n"
        "    print('ERR', file=sys.stderr)\n"
        "    assert False\n"
    )
    command = [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "ZYGOTE_PROBE": "passed on"}
    forked = session_zygote.run(command, cwd=tmp_path, env=env, timeout=60)
    monkeypatch.setenv("PATCH_NO_FORKSERVER", "1")
    real = session_zygote.run(command, cwd=tmp_path, env=env, timeout=60)
    for done in (forked, real):
        assert done.args == command and done.returncode == pytest.ExitCode.TESTS_FAILED
        assert f"OUT {tmp_path} passed on " in done.stdout and "1 failed" in done.stdout
        assert "ERR" in done.stderr
    assert f" {os.getpid()}\n" in real.stdout and f" {os.getpid()}\n" not in forked.stdout
    monkeypatch.delenv("PATCH_NO_FORKSERVER")
    (tmp_path / "test_out.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        session_zygote.run(command, cwd=tmp_path, timeout=2)
    # Any other command is a plain subprocess.run.
    other = session_zygote.run([sys.executable, "-c", "print(42)"], cwd=tmp_path)
    assert other.returncode == 0 and other.stdout == "42\n"
