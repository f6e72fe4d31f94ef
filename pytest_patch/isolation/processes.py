"""The isolated processes: the session's end of each, the zygote that forks them, and their
ending (with whatever they started).

An isolated process is forked by the warm :class:`Zygote` (a :class:`ForkedWorker`), or
started as a fresh ``python -m pytest`` (a :class:`FreshWorker`) where a fork is unsafe.
Each leads a process group of its own, which ends with it. What runs inside one is
:mod:`.remote`'s; the messages go through :mod:`pytest_patch.wire`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import patch

from .. import wire
from ..mpi import shm


def crash_log_path(pid: int) -> Path:
    """Where faulthandler writes the Python stack of process ``pid`` if it crashes."""
    return Path(tempfile.gettempdir()) / f"pytest-patch-isolated-{pid}.log"


def _describe_status(status: int | None) -> str:
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name} (signal {number})"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class Worker:
    """The parent's end of one isolated process."""

    def __init__(self, group: str, channel: socket.socket) -> None:
        self.group = group
        self.channel = channel
        #: The MPI shared-memory files of the process's world, as it reports them once a
        #: test or the conftest initialised MPI: removed if it dies before MPI_Finalize.
        self.shared: set[str] = set()

    def send(self, message: dict[str, Any]) -> None:
        try:
            wire.send(self.channel, message)
        except OSError:
            pass  # it died already: receive() says so

    def receive(self) -> Any:
        message = wire.receive(self.channel)
        if isinstance(message, dict):
            self.shared.update(message.get("shared", ()))
        return message

    def close(self) -> None:
        self.channel.close()

    def kill(self) -> None:
        """End the process now (the session is ending without it)."""
        self.close()

    def status(self) -> int | None:
        """The wait status of the ended process."""
        raise NotImplementedError

    def output(self) -> str:
        """What the process wrote outside pytest's capture before it died."""
        return ""

    def death(self, nodeid: str, phase: str) -> str:
        """Why the process gave no report for ``phase`` of ``nodeid``."""
        self.close()
        status = self.status()
        shm.remove(self.shared)
        lines = [
            f"pytest-patch: the isolated process running {nodeid} {_describe_status(status)} "
            f"during its {phase}, before it could report (a crash in NEURON or a mechanism, "
            "os._exit, or the test killed it). Its output since the last report is lost; "
            "the other tests are not affected."
        ]
        extra = self.output().strip()
        if extra:
            lines += ["", extra]
        return "\n".join(lines)


class ForkedWorker(Worker):
    def __init__(self, group: str, channel: socket.socket, pid: int, zygote: Zygote) -> None:
        super().__init__(group, channel)
        self.pid = pid
        self.zygote = zygote
        self._waited = False
        self._status: int | None = None

    def close(self) -> None:
        """Close the channel; the process then ends, and the processes it started with it."""
        super().close()
        self.status()

    def kill(self) -> None:
        end_group(self.pid)  # first: closing waits for the process to end
        Worker.close(self)
        shm.remove(self.shared)  # (a file still mapped by the dying process goes with it)
        crash_log_path(self.pid).unlink(missing_ok=True)  # ended before it could remove it

    def status(self) -> int | None:
        if not self._waited:
            self._waited = True
            try:
                self._status = self.zygote.wait(self.pid)
            except (OSError, ValueError):  # the zygote is gone too: no status to tell
                end_group(self.pid)
        return self._status

    def output(self) -> str:
        return self.stack(self.pid)

    @staticmethod
    def stack(pid: int) -> str:
        """The Python stack that faulthandler wrote when process ``pid`` crashed."""
        log = crash_log_path(pid)
        try:
            text = log.read_text(errors="replace")
            log.unlink()
        except OSError:
            return ""
        # Frames from the first of this package's down are pytest-patch's and pytest's, not
        # the test's.
        ours = f'File "{Path(__file__).parent}{os.sep}'
        lines = text.splitlines()
        cut = next((i for i, line in enumerate(lines) if ours in line), None)
        if cut is not None:
            rest = [line for line in lines[cut:] if line.startswith("Extension modules")]
            lines = [*lines[:cut], "  ...", *rest]
        text = "\n".join(lines)
        return f"Python stack when it died:\n{text}" if text.strip() else ""


class FreshWorker(Worker):
    """An isolated process started as a fresh ``python -m pytest`` (no fork possible)."""

    def __init__(
        self, group: str, channel: socket.socket, process: subprocess.Popen[bytes], log: Any
    ) -> None:
        super().__init__(group, channel)
        self.process = process
        self.log = log

    @classmethod
    def start(
        cls, config: pytest.Config, group: str, nodeids: list[str], outside: bool = False
    ) -> FreshWorker:
        """Start ``python -m pytest`` on ``nodeids`` with this session's options.

        ``outside``: this process was started by an MPI launcher, and the new one must
        not join its world (nor think that it was started by one).
        """
        ours, theirs = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_patch",
            "-p",
            "no:cacheprovider",
            f"--nrn-isolation-worker={theirs.fileno()}",
            f"--rootdir={config.rootpath}",
            "-qq",
        ]
        if config.inipath is not None:
            command += ["-c", str(config.inipath)]
        if config.pluginmanager.hasplugin("xdist"):
            command += ["-n", "0"]
        command += wire.forwarded_args(config.invocation_params.args)
        command += [f"{config.rootpath}{os.sep}{nodeid}" for nodeid in nodeids]
        env = patch.serial_environment() if outside else None
        log = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(
                command,
                cwd=config.invocation_params.dir,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a process group of its own, ended with it
            )
        finally:
            theirs.close()
        return cls(group, ours, process, log)

    def close(self) -> None:
        super().close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        end_group(self.process.pid)

    def kill(self) -> None:
        self.channel.close()
        end_group(self.process.pid)
        self.process.wait()
        shm.remove(self.shared)
        crash_log_path(self.process.pid).unlink(missing_ok=True)

    def status(self) -> int | None:
        code = self.process.wait()
        return (-code) & 0x7F if code < 0 else code << 8

    def output(self) -> str:
        self.log.seek(0)
        text: str = self.log.read().decode(errors="replace")[-20000:]
        output = f"Its output:\n{text}" if text.strip() else ""
        parts = [ForkedWorker.stack(self.process.pid), output]
        return "\n".join(part for part in parts if part)


class Zygote:
    """A warm copy of the session, forked before any test ran; it forks isolated tests.

    Requests and answers are JSON packets on a ``SOCK_SEQPACKET`` pair; each isolated
    process gets a stream socket of its own, handed to the parent with ``SCM_RIGHTS``.
    """

    def __init__(self, channel: socket.socket, pid: int) -> None:
        self.channel = channel
        self.pid = pid

    @classmethod
    def start(
        cls,
        prepare: Callable[[], None],
        warm: Callable[[], None],
        serve: Callable[[socket.socket], None],
    ) -> Zygote:
        """Fork the zygote: ``prepare`` runs before this session goes on, then ``warm``;
        ``serve`` runs in each isolated process it forks."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the zygote
            ours.close()
            code = 1
            try:
                _zygote_main(theirs, prepare, warm, serve)
                code = 0
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        ours.recv(64)  # it has its own capture files: the session may go on
        return cls(ours, pid)

    def spawn(self, group: str) -> ForkedWorker:
        self.channel.send(b'{"op": "fork"}')
        message, fds, _, _ = socket.recv_fds(self.channel, 1024, 1)
        if not fds:
            raise OSError(f"the zygote gave no isolated process: {message!r}")
        pid = int(json.loads(message)["pid"])
        return ForkedWorker(group, socket.socket(fileno=fds[0]), pid, self)

    def wait(self, pid: int) -> int | None:
        self.channel.send(json.dumps({"op": "wait", "pid": pid}).encode())
        answer = json.loads(self.channel.recv(1024))
        status = answer.get("status")
        return None if status is None else int(status)

    def close(self) -> None:
        self.channel.close()  # the zygote ends when its channel does
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _zygote_main(
    channel: socket.socket,
    prepare: Callable[[], None],
    warm: Callable[[], None],
    serve: Callable[[socket.socket], None],
) -> None:
    """The zygote's life: get ready, then fork an isolated process per request.

    When the session ends or goes away (its end of ``channel`` closes), isolated processes
    still running end with it: none outlives the session.
    """
    prepare()
    channel.send(b"ready")
    warm()
    statuses: dict[int, int] = {}  # wait status of each ended isolated process
    running: set[int] = set()
    try:
        while True:
            packet = channel.recv(1024)
            if not packet:
                return
            request = json.loads(packet)
            _reap(statuses, running)
            if request["op"] == "fork":
                _fork(channel, serve, running)
            elif request["op"] == "wait":
                status = _wait(request["pid"], statuses, running)
                channel.send(json.dumps({"status": status}).encode())
    finally:
        _end_children(running)


def _fork(
    channel: socket.socket, serve: Callable[[socket.socket], None], running: set[int]
) -> None:
    """Fork an isolated process that runs ``serve`` (added to ``running``), and hand the
    session its socket."""
    mine, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # an isolated process, in a process group of its own
        os.setpgid(0, 0)
        channel.close()
        theirs.close()
        code = 1
        try:
            serve(mine)
            code = 0
        finally:
            _finalize_mpi()
            os._exit(code)
    try:
        os.setpgid(pid, pid)  # (also here: whichever runs first)
    except OSError:
        pass  # it has done so already, or ended
    running.add(pid)
    mine.close()
    socket.send_fds(channel, [json.dumps({"pid": pid}).encode()], [theirs.fileno()])
    theirs.close()


def _finalize_mpi() -> None:
    """End MPI if a test initialised it in this isolated process (a world of one): the
    process leaves by ``os._exit``, which skips mpi4py's ``MPI_Finalize``, and MPICH removes
    the world's shared-memory file only then. An ``MPI_Finalize`` that does not return
    within a minute ends the process (the alarm's default action)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None:
        return
    try:
        if mpi.Is_initialized() and not mpi.Is_finalized():
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(60)
            mpi.Finalize()
    except Exception:
        pass  # the process ends all the same


def _wait(pid: int, statuses: dict[int, int], running: set[int]) -> int | None:
    """The wait status of the isolated process ``pid``, once it has ended; what it started
    and left running ends too."""
    if pid not in statuses:
        try:
            statuses[pid] = os.waitpid(pid, 0)[1]
        except ChildProcessError:
            pass
        running.discard(pid)
    end_group(pid)  # what the test started and left running
    return statuses.pop(pid, None)


def _end_children(running: set[int]) -> None:
    """Kill and collect the zygote's isolated processes that are still running, and the
    processes they started."""
    for pid in running:
        end_group(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def end_group(pid: int) -> None:
    """Kill the process group that the isolated process ``pid`` leads: it, and whatever
    it started (a test's subprocesses end with the test)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # every process of it has ended already


def _reap(statuses: dict[int, int], running: set[int]) -> None:
    """Collect the isolated processes that have ended, keeping their wait status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = status
        running.discard(pid)
        end_group(pid)
