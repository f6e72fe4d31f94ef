"""Run the suite's ``python -m pytest`` sessions as forks of a warm interpreter.

Hundreds of tests run pytest in a subprocess through pytester (or :func:`run`, this
module's ``subprocess.run``), and most of such a run is
importing pytest and numpy. Each test process gets one zygote, a plain interpreter that
has imported those two (not NEURON, not MPI, not Patch) and forks a child for each run.
The child is a new process like the one ``python -m pytest`` would be: it takes the run's
directory, environment, arguments and output files, puts the run's directory and
``PYTHONPATH`` first on ``sys.path``, and ends the way that interpreter would. A run whose
environment changes how the interpreter or numpy start (``PYTHON*`` variables other than
``PYTHONPATH``, thread counts of numpy's libraries), or any other command, is started as a
real subprocess. ``PATCH_NO_FORKSERVER=1`` starts every run as a real subprocess.

Run as a script, this file is the zygote.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any

#: Variables read when the interpreter or numpy start: a run that changes one of them
#: needs an interpreter of its own.
_STARTUP_PREFIXES = ("PYTHON", "NPY_", "OPENBLAS_", "OMP_", "MKL_", "GOTO", "VECLIB_")
_APPLIED_IN_CHILD = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
#: An MPI rank's environment: a zygote started from a rank would be a second process
#: holding the rank's launcher connection variables; those runs use real subprocesses.
_MPI_RANK_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")

_BASE_ENV = dict(os.environ)
_lock = threading.Lock()
_server: subprocess.Popen[bytes] | None = None


def enabled() -> bool:
    return not os.environ.get("PATCH_NO_FORKSERVER") and not any(
        name in _BASE_ENV for name in _MPI_RANK_VARIABLES
    )


def run(
    command: list[str],
    *,
    cwd: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
    timeout=timeout)``, forked from the zygote when ``command`` is ``python -m pytest``."""
    args = [os.fspath(arg) for arg in command]
    env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory() as folder:
        with (
            open(os.path.join(folder, "out"), "w+") as out,
            open(os.path.join(folder, "err"), "w+") as err,
        ):
            child = None
            if args[:3] == [sys.executable, "-m", "pytest"]:
                child = start((sys.executable, "-mpytest", *args[3:]), out, err, env, cwd=cwd)
            if child is None:
                return subprocess.run(
                    args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
                )
            try:
                code = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(args, code, out.read(), err.read())


def start(
    cmdargs: tuple[str, ...],
    stdout: Any,
    stderr: Any,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
) -> Any:
    """A running ``python -m pytest`` child for pytester's ``run`` (in ``cwd``, else this
    process's directory), or None when this run must be a real subprocess."""
    if not enabled() or len(cmdargs) < 2 or cmdargs[:2] != (sys.executable, "-mpytest"):
        return None
    names = [getattr(stream, "name", None) for stream in (stdout, stderr)]
    if not all(isinstance(name, str) and os.path.isabs(name) for name in names):
        return None
    for name in set(env) | set(_BASE_ENV):
        if (
            name.startswith(_STARTUP_PREFIXES)
            and name not in _APPLIED_IN_CHILD
            and env.get(name) != _BASE_ENV.get(name)
        ):
            return None
    if not _lock.acquire(blocking=False):  # a run is under way in another thread
        return None
    try:
        server = _ensure_server()
        assert server.stdin is not None and server.stdout is not None
        request = {
            "args": list(cmdargs[2:]),
            "cwd": os.path.abspath(cwd if cwd is not None else os.getcwd()),
            "env": env,
            "stdout": names[0],
            "stderr": names[1],
        }
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
        reply = _read_line(server, timeout=60)
        if not reply.startswith("pid "):
            raise RuntimeError(f"the zygote answered {reply!r}")
        return _Run(server, int(reply[4:]), cmdargs)
    except BaseException:
        _discard_server()
        _lock.release()
        raise


def _ensure_server() -> subprocess.Popen[bytes]:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_BASE_ENV,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    return _server


@atexit.register
def _stop_server() -> None:
    """End the zygote with the process that started it (it leaves on end of input)."""
    if _server is not None and _server.poll() is None:
        assert _server.stdin is not None
        _server.stdin.close()
        try:
            _server.wait(10)
        except subprocess.TimeoutExpired:
            _discard_server()


def _discard_server() -> None:
    global _server
    if _server is not None:
        _server.kill()
        _server.wait()
        _server = None


def _read_line(server: subprocess.Popen[bytes], timeout: float | None) -> str:
    assert server.stdout is not None
    fd = server.stdout.fileno()
    if timeout is not None and not select.select([fd], [], [], timeout)[0]:
        raise subprocess.TimeoutExpired("zygote", timeout)
    line = server.stdout.readline()
    if not line:
        raise RuntimeError("the zygote ended")
    return line.decode().strip()


class _Run:
    """The part of ``subprocess.Popen`` that pytester's ``run`` uses."""

    stdin = None

    def __init__(self, server: subprocess.Popen[bytes], pid: int, args: tuple[str, ...]):
        self._server = server
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                reply = _read_line(self._server, timeout)
            except subprocess.TimeoutExpired:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            except BaseException:
                _discard_server()
                _lock.release()
                raise
            if not reply.startswith("exit "):
                _discard_server()
                _lock.release()
                raise RuntimeError(f"the zygote answered {reply!r}")
            self.returncode = int(reply[5:])
            _lock.release()
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


# --- the zygote ---------------------------------------------------------------------


def _serve() -> None:
    import gc

    import numpy  # noqa: F401  (imported once here, for every run)
    import pytest  # noqa: F401

    # What the runs inherit is never garbage: their collections skip it (and leave its
    # memory shared instead of copying it to write the collector's marks).
    gc.collect()
    gc.freeze()

    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    base_path = sys.path[1:]  # without this file's folder
    pending = b""
    while True:
        while b"\n" not in pending:
            chunk = os.read(requests, 1 << 16)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.close(requests)
            os.close(replies)
            _become_pytest(request, base_path)  # ends the process
        os.write(replies, f"pid {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(replies, f"exit {os.waitstatus_to_exitcode(status)}\n".encode())


def _become_pytest(request: dict[str, Any], base_path: list[str]) -> None:
    """In the forked child: be ``python -m pytest ARGS`` started in the run's directory."""
    import runpy

    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
        extra = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
        sys.path[:] = [os.getcwd(), *extra, *base_path]
        stdin = os.open(os.devnull, os.O_RDONLY)
        stdout = os.open(request["stdout"], os.O_WRONLY | os.O_APPEND)
        stderr = os.open(request["stderr"], os.O_WRONLY | os.O_APPEND)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        sys.argv = ["-m", *request["args"]]
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(70)
    runpy.run_module("pytest", run_name="__main__", alter_sys=True)
    raise SystemExit(0)


if __name__ == "__main__":
    _serve()
