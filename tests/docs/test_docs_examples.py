"""Examples of the docs pages run as written."""

import os
import pathlib
import re
import subprocess
import sys

import pytest
import session_zygote

# Slow (the docs' examples in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]


def blocks(page, language):
    text = (ROOT / "docs" / page).read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def run_pytest(tmp_path, source, ini="", env=None):
    (tmp_path / "test_example.py").write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n" + ini)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    return session_zygote.run(command, cwd=tmp_path, env=env, timeout=300)


def test_hypothesis_example_with_nrn_simulator(tmp_path):
    example = next(b for b in blocks("strategies.md", "python") if "nrn_simulator" in b)
    header = (
        "import pytest\nfrom hypothesis import given, settings\n"
        "from pytest_patch.strategies import morphologies\n"
        "settings.register_profile('docs', max_examples=10, derandomize=True, database=None)\n"
        "settings.load_profile('docs')\n\n"
    )
    # As a user runs it: with hypothesis's pytest plugin (the suite's sessions leave it out).
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"}
    result = run_pytest(tmp_path, header + example, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_load_mechanisms_example(tmp_path):
    example = next(b for b in blocks("library.md", "python") if "load_mechanisms" in b)
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "syn.mod").write_text(
        "NEURON { POINT_PROCESS MySynapse RANGE count }\nASSIGNED { count }\n"
        "NET_RECEIVE (w) { count = count + 1 }\n"
    )
    (tmp_path / "model.py").write_text(example + "\nprint(type(syn).__name__, syn.get_segment())\n")
    result = subprocess.run(
        [sys.executable, "model.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MySynapse ") and result.stdout.strip().endswith("(0.5)")


def test_regression_examples_write_then_check(tmp_path):
    example = blocks("regression.md", "python")[0]
    tests = "\n\n".join(part for part in re.split(r"\n\n\n", example) if "build_ring" not in part)
    first = run_pytest(tmp_path, tests)
    assert "2 failed" in first.stdout, first.stdout + first.stderr
    assert sorted(p.name for p in (tmp_path / "test_example").iterdir()) == [
        "test_firing_pattern.features.json",
        "test_soma_trace.traces.npz",
    ]
    second = run_pytest(tmp_path, tests)
    assert "2 passed" in second.stdout, second.stdout + second.stderr
