"""Where script items run: each in a process forked before NEURON started, so that each
starts a NEURON of its own, with its own connection to the display.

The ``nrn_isolated`` machinery (:mod:`pytest_patch.isolation`) forks isolated tests from a
zygote that has NEURON running; that is what makes a fresh NEURON cost milliseconds. An X
display connection, though, cannot be shared by two processes (the second one's requests
break the connection, and Xlib ends the process), and NEURON opens it when it starts. So
script items use the same zygote, forked earlier: at configure, before the session's
NEURON starts. Each item's process starts NEURON (with the display), loads the session's
mechanisms and the run system, runs the script and sends back what it produced; the
comparison with goldens happens in the session.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import traceback
from pathlib import Path
from typing import Any

import pytest

import patch

from .. import wire
from ..isolation.processes import Zygote, crash_log_path
from ..isolation.remote import own_capture
from . import capture
from .lines import ScriptLine


class Runner:
    """The zygote of script items (forked at configure), and the running of one item."""

    def __init__(self, config: pytest.Config, graphs: bool) -> None:
        self.graphs = graphs
        self._zygote: Zygote | None = Zygote.start(
            lambda: own_capture(config), lambda: None, _serve
        )

    def run(self, nodeid: str, line: ScriptLine, mods: list[tuple[str, str]]) -> capture.Produced:
        """Run ``line`` in a new process; what it produced, or :class:`capture.ScriptFailed`."""
        if self._zygote is None:
            raise RuntimeError("pytest-patch: the script runner is closed")
        worker = self._zygote.spawn(nodeid)
        request = {
            "path": str(line.path),
            "statements": list(line.statements),
            "text": line.text,
            "name": line.name,
            "mods": mods,
            "graphs": self.graphs,
        }
        worker.send(request)
        try:
            answer = worker.receive()
        except BaseException:  # interrupted (Ctrl-C, pytest-timeout): the script ends too
            worker.kill()
            raise
        if answer is None:
            raise capture.ScriptFailed(worker.death(nodeid, "run"))
        worker.close()
        worker.status()  # collected by the zygote
        if "failed" in answer:
            raise capture.ScriptFailed(answer["failed"])
        return capture.Produced.from_message(answer["produced"])

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None


def _serve(channel: socket.socket) -> None:
    """In an item's process: start NEURON, run the script asked for, answer, end."""
    crash_log = crash_log_path(os.getpid())
    with open(crash_log, "w") as crash_file:
        faulthandler.enable(file=crash_file, all_threads=True)
        request = wire.receive(channel)
        if request is None:
            return
        line = ScriptLine(
            Path(request["path"]), tuple(request["statements"]), request["text"], request["name"]
        )
        # A script's own plots: drawn off screen, never a window waiting to be closed.
        os.environ["MPLBACKEND"] = "Agg"
        try:
            _start_neuron(request["mods"])
            produced = capture.run(line, graphs=bool(request["graphs"]))
            answer: dict[str, Any] = {"produced": produced.to_message()}
        except capture.ScriptFailed as failure:
            answer = {"failed": str(failure)}
        except Exception:
            answer = {
                "failed": f"pytest-patch could not run {line.text}:\n{traceback.format_exc()}"
            }
        wire.send(channel, answer)
        faulthandler.disable()
    os.unlink(crash_log)


def _start_neuron(mods: list[tuple[str, str]]) -> None:
    """NEURON, the session's mechanisms (from their cache) and its run system."""
    for folder, cache in mods:
        patch.load_mechanisms(folder, cache=cache)
    patch.p.load_stdrun()
