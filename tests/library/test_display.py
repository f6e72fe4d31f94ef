"""``p.Graph.getline`` without a display: a ``NoDisplayError``, where raw NEURON segfaults.

Each case starts NEURON in a fresh interpreter, as NEURON decides at start-up whether it
has a display.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

CODE = """
import patch
from neuron import h
from patch import p
p("create soma")
graph = p.Graph()
x, y = p.Vector(), p.Vector()
print("display", patch.has_display())
try:
    print("getline", graph.getline(-1, x, y))
except patch.exceptions.NoDisplayError as error:
    print("NoDisplayError", error)
"""


def _run(code: str, display: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    if display is not None:
        env["DISPLAY"] = display
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_getline_without_a_display_is_a_patch_error_not_a_crash() -> None:
    result = _run(CODE, None)
    assert result.returncode == 0, result.stderr
    assert "display False" in result.stdout
    assert "NoDisplayError Graph.getline needs NEURON's graphics" in result.stdout
    assert "Xvfb" in result.stdout


def test_raw_getline_without_a_display_does_crash() -> None:
    """Why the check exists: NEURON itself dies (so Patch must not let the call through)."""
    raw = "from neuron import h\nh('create soma')\ng = h.Graph()\ng.getline(-1, h.Vector(), h.Vector())\n"
    assert _run(raw, None).returncode < 0


@pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)"
)
def test_getline_reads_lines_on_a_display() -> None:
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp"],
        pass_fds=[write],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as answer:
            number = answer.readline().strip()
        result = _run(CODE, f":{number}")
    finally:
        server.terminate()
        server.wait()
    assert result.returncode == 0, result.stderr
    assert "display True" in result.stdout
    assert "getline -1.0" in result.stdout  # a Graph with no lines: -1, and no crash
