"""The README's model test runs as written, serially (its MPI test in a child mpiexec)."""

import pathlib
import re
import shutil
import sys

import pytest
import session_zygote

# Slow (the README's examples in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_model_test_passes(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def test_" in b)
    (tmp_path / "test_cell.py").write_text(block)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    result = session_zygote.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v"], cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_readme_golden_test_writes_then_checks(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "trace_regression" in b
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_cell.py").write_text(block)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    first = session_zygote.run(command, cwd=tmp_path, timeout=300)
    assert "1 failed" in first.stdout and "Review them and commit them" in first.stdout, (
        first.stdout
    )
    written = sorted(path.name for path in (tmp_path / "tests" / "test_cell").iterdir())
    assert written == [
        "test_soma_trace_is_unchanged.spikes.json",
        "test_soma_trace_is_unchanged.traces.npz",
    ]
    second = session_zygote.run(command, cwd=tmp_path, timeout=300)
    assert "1 passed" in second.stdout, second.stdout + second.stderr


def test_readme_published_model_ini_puts_the_model_under_regression(tmp_path):
    """The README's three ini lines, in a ModelDB-style model folder (the dendrite
    example, without its goldens): the first run writes them, the second passes."""
    readme = (ROOT / "README.md").read_text()
    ini = next(b for b in re.findall(r"```ini\n(.*?)```", readme, re.S) if "nrn_scripts" in b)
    shutil.copytree(
        ROOT / "examples" / "modeldb_dendrite",
        tmp_path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("mosinit", ".*", "pytest.ini"),
    )
    (tmp_path / "pytest.ini").write_text(ini)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    first = session_zygote.run(command, cwd=tmp_path, timeout=600)
    assert "1 failed" in first.stdout and "Review them and commit them" in first.stdout, (
        first.stdout
    )
    assert (tmp_path / "mosinit" / "restart_fig2a_run_summary.output.json").is_file()
    second = session_zygote.run(command, cwd=tmp_path, timeout=600)
    assert "1 passed" in second.stdout, second.stdout + second.stderr
