"""Inside an isolated process: run the tests the session asks for, and send back each
phase's report as soon as it is made.

The zygote gets ready here (:func:`warm`) before it forks; each forked process, or fresh
``python -m pytest`` started for isolated tests, then serves the session
(:func:`serve`). The session's side is :mod:`.item`; the processes are :mod:`.processes`.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import socket
import sys
from collections.abc import Callable
from typing import Any, Literal

import pytest

import patch

from .. import wire
from ..leaks import contained_key
from ..mpi import shm
from .processes import crash_log_path

#: The most characters of one captured-output section sent back from an isolated test;
#: the rest is cut from its middle, saying how much.
SECTION_LIMIT = 2_000_000
#: The largest report (in bytes, serialized) sent back whole; a larger one is replaced by
#: a failure saying so, with the start of its traceback.
REPORT_LIMIT = 64_000_000

Phase = Literal["setup", "call", "teardown"]


def warm() -> None:
    """In the zygote: NEURON and Patch started, its run system loaded, no model."""
    patch.p.load_stdrun()
    gc.collect()
    gc.freeze()  # the isolated processes' collections then skip what they inherit


def serve(config: pytest.Config, channel: socket.socket, items: list[pytest.Item]) -> None:
    """Run the tests the parent session asks for, sending each phase's report."""
    own_capture(config)
    crash_log = crash_log_path(os.getpid())
    with open(crash_log, "w") as crash_file:
        faulthandler.enable(file=crash_file, all_threads=True)
        originals = [getattr(item, "original", item) for item in items]
        by_id = {item.nodeid: item for item in originals}
        while True:
            request = wire.receive(channel)
            if request is None:
                break
            item = by_id.get(request["run"])
            if item is None:
                wire.send(channel, {"done": True})
                break
            nextitem = by_id.get(request["next"]) if request["next"] else None
            item.stash[contained_key] = True
            run_phases(item, nextitem, lambda report: send_report(config, channel, report))
            wire.send(channel, {"done": True})
            if nextitem is None:
                break
        faulthandler.disable()
    os.unlink(crash_log)


def send_report(config: pytest.Config, channel: socket.socket, report: pytest.TestReport) -> None:
    """Send ``report`` as pytest serializes it; one that cannot travel whole is replaced
    by a failure saying why, so no outcome is lost."""
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    data["sections"] = [(title, _trimmed(text)) for title, text in data.get("sections", [])]
    extra = {"shared": shared} if (shared := _shared_memory()) else {}
    try:
        encoded = wire.encode({"report": data, **extra})
    except (TypeError, ValueError) as error:  # e.g. a circular user property
        why = f"it could not be serialized: {error}"
        encoded = wire.encode({"report": _substitute(data, why), **extra})
    if len(encoded) > REPORT_LIMIT:
        why = (
            f"it is {len(encoded) / 1e6:.0f} MB serialized, more than the "
            f"{REPORT_LIMIT / 1e6:.0f} MB an isolated test may send"
        )
        start = str(report.longrepr)[:20000]
        encoded = wire.encode({"report": _substitute(data, why, start), **extra})
    wire.send_encoded(channel, encoded)


#: This process's MPI shared-memory files, read once MPI is initialised (made then).
_shared: list[str] | None = None


def _shared_memory() -> list[str]:
    """The MPI shared-memory files of this process's world, once a test or the conftest
    initialised MPI here: the session removes them if this process dies before it can
    finalise MPI (they would stay in memory until the machine restarts)."""
    global _shared
    if _shared is None:
        mpi = sys.modules.get("mpi4py.MPI")
        if mpi is None or not mpi.Is_initialized() or mpi.Is_finalized():
            return []
        _shared = sorted(shm.segments([os.getpid()]))
    return _shared


def run_phases(
    item: pytest.Item, nextitem: pytest.Item | None, send: Callable[[pytest.TestReport], None]
) -> None:
    """Setup, call and teardown of ``item`` through pytest's hooks, without logging them.

    The parent session logs the reports; here each is sent as soon as it is made, so a
    crash in a later phase still leaves the earlier ones.
    """
    ihook = item.ihook

    def phase(when: Phase, run: Callable[[], object]) -> pytest.TestReport:
        call = pytest.CallInfo.from_call(
            run, when=when, reraise=(pytest.exit.Exception, KeyboardInterrupt)
        )
        report: pytest.TestReport = ihook.pytest_runtest_makereport(item=item, call=call)
        send(report)
        return report

    setup = phase("setup", lambda: ihook.pytest_runtest_setup(item=item))
    if setup.passed and not item.config.getoption("setuponly", False):
        phase("call", lambda: ihook.pytest_runtest_call(item=item))
    phase("teardown", lambda: ihook.pytest_runtest_teardown(item=item, nextitem=nextitem))


def own_capture(config: pytest.Config) -> None:
    """Give this (forked) process capture files of its own.

    A fork shares the parent's capture files, and two processes reading and truncating
    one file would take each other's output.
    """
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None or not capman.is_globally_capturing():
        return
    capman.stop_global_capturing()
    capman.start_global_capturing()
    capman.suspend_global_capture(in_=False)


def _trimmed(text: str) -> str:
    if len(text) <= SECTION_LIMIT:
        return text
    half = SECTION_LIMIT // 2
    cut = len(text) - 2 * half
    return (
        f"{text[:half]}\n... [pytest-patch: {cut} characters of this isolated test's "
        f"output cut here; {len(text)} in all] ...\n{text[-half:]}"
    )


def _substitute(data: dict[str, Any], why: str, start: str = "") -> dict[str, Any]:
    """A failed report in place of one that cannot travel, saying why."""
    text = f"pytest-patch: the isolated test's {data.get('when')} report was replaced: {why}."
    if start:
        text += f"\nIts report began:\n{start}"
    kept = ("nodeid", "location", "keywords", "when", "duration")
    sections = [(title, str(body)[:100_000]) for title, body in data.get("sections", [])]
    return {
        **{key: data[key] for key in kept if key in data},
        "outcome": "failed",
        "longrepr": text,
        "sections": sections,
        "user_properties": [],
        "$report_type": "TestReport",
    }
