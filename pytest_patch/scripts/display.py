"""The X display NEURON's Graphs are drawn on during script items: a virtual one (Xvfb).

NEURON chooses at start-up whether it has graphics (``DISPLAY``), and without them
reading a Graph's lines kills it, so the display is chosen before NEURON starts (at
configure, before the session's mechanisms load) and kept for the whole session. pytest-
xdist's workers and the isolated processes inherit it through the environment.

The choice, in order: a virtual display this session starts (``Xvfb``, from the
distribution's ``xvfb`` package), so that no window opens on the user's screen; a
virtual display the parent session started (xdist workers); the ``DISPLAY`` of the
environment when it can be opened; none, with the reason, and Graphs are not captured.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

#: Set by the session that started the virtual display, for its workers.
INHERITED = "PYTEST_PATCH_XVFB"
_STARTUP = 10.0  # seconds Xvfb may take to say which display it took


@dataclass
class Display:
    """The display of this session (``name`` ``None``: none, ``reason`` says why)."""

    name: str | None
    how: str
    reason: str = ""
    process: subprocess.Popen[bytes] | None = None

    def describe(self) -> str:
        if self.name is None:
            return f"nrn scripts: no display ({self.reason}); hoc Graphs are not captured"
        return f"nrn scripts: hoc Graphs read on DISPLAY={self.name} ({self.how})"

    def stop(self) -> None:
        """End the virtual display this session started (and nothing else)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def choose() -> Display:
    """Start or find a display, and put it in ``DISPLAY`` for NEURON; see the module doc."""
    inherited = os.environ.get(INHERITED)
    if inherited and inherited == os.environ.get("DISPLAY") and reachable(inherited):
        return Display(inherited, "a virtual display (Xvfb) of the parent session")
    server = shutil.which("Xvfb")
    failure = ""
    if server is not None:
        display = _start(server)
        if isinstance(display, Display):
            os.environ["DISPLAY"] = os.environ[INHERITED] = str(display.name)
            return display
        failure = display
    given = os.environ.get("DISPLAY")
    if given and reachable(given):
        why = f"Xvfb failed: {failure}" if failure else "Xvfb is not installed"
        return Display(given, f"the environment's display; {why}")
    # NEURON would stop at start-up on a DISPLAY it cannot open.
    os.environ.pop("DISPLAY", None)
    if failure:
        reason = f"Xvfb did not start: {failure}"
    else:
        reason = "Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)"
    if given:
        reason += f"; DISPLAY={given} cannot be opened"
    return Display(None, "", reason)


def _start(server: str) -> Display | str:
    """Start ``Xvfb`` on a free display number; the display, or why it did not start."""
    read, write = os.pipe()
    command = [server, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"]
    try:
        process = subprocess.Popen(
            command,
            pass_fds=[write],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_end_with_parent,
        )
    except OSError as error:
        os.close(read)
        os.close(write)
        return str(error)
    os.close(write)
    number = b""
    deadline = time.monotonic() + _STARTUP
    with os.fdopen(read, "rb") as answer:
        while time.monotonic() < deadline and not number.endswith(b"\n"):
            chunk = answer.read(1)
            if not chunk:
                break
            number += chunk
    name = f":{number.decode().strip()}"
    if number.strip() and reachable(name):
        display = Display(
            name, "a virtual display (Xvfb) started for this session", process=process
        )
        atexit.register(display.stop)  # also when the session ends without unconfigure
        return display
    process.kill()
    _, err = process.communicate()
    last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no display number"]
    return last[0]


def _end_with_parent() -> None:
    """In the display server's process: end it when the session's process dies (Linux),
    so that not even a killed session leaves it behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def reachable(name: str) -> bool:
    """Whether the X display ``name`` (``:N`` or ``host:N``) accepts a connection."""
    host, _, rest = name.rpartition(":")
    number = rest.partition(".")[0]
    if not number.isdigit():
        return False
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as connection:
                connection.settimeout(2)
                connection.connect(f"/tmp/.X11-unix/X{number}")
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=2).close()
    except OSError:
        return False
    return True
