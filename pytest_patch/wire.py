"""What a session shares with the pytest processes it starts: the options they repeat, and
the messages they exchange.

Isolated tests (:mod:`pytest_patch.isolation`), script items
(:mod:`pytest_patch.scripts.runner`) and child ``mpiexec`` runs
(:mod:`pytest_patch.mpi.child`) start processes that must run with this session's
options (:func:`forwarded_args`). Isolated and script processes talk with the session on a
stream socket, one message at a time: JSON, preceded by its length in bytes
(:func:`send`, :func:`receive`).

It is a module of its own, outside :mod:`pytest_patch.isolation`, because
:mod:`pytest_patch.mpi.child` needs it and the isolation package imports that module.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

# Options of the parent that the child needs too: plugins, ini overrides, NEURON's, and
# pytest-timeout's (its per-test limit applies in the child, to each test).
_FORWARDED_PAIRS = {
    "-p",
    "-o",
    "--override-ini",
    "--nrn-leaks",
    "--nrn-mod-dir",
    "--nrn-isolate",
    "--timeout",
    "--timeout-method",
    "--timeout_method",
    "--nrn-artifacts",
    "--nrn-unused",
}
_FORWARDED_PREFIXES = ("-p", "-o", "--override-ini=", "--nrn-", "--timeout")
# Done once, by the parent, before it builds what its children load.
_NOT_FORWARDED = {"--nrn-clear-mod-cache"}

#: What precedes each message: its length in bytes (unsigned, 8 bytes, big-endian).
_HEADER = struct.Struct("!Q")


def forwarded_args(args: tuple[str, ...] | list[str]) -> list[str]:
    """The parent's command-line options that the child run must repeat."""
    out: list[str] = []
    takes_value = False
    for arg in args:
        if arg in _NOT_FORWARDED and not takes_value:
            continue
        if takes_value or arg.startswith(_FORWARDED_PREFIXES):
            out.append(arg)
            takes_value = not takes_value and arg in _FORWARDED_PAIRS
    return out


def encode(message: Any) -> bytes:
    """``message`` as it travels: JSON, with what JSON cannot hold given as its ``repr``.

    Raises what :func:`json.dumps` raises for a message that cannot be encoded at all (a
    circular reference).
    """
    return json.dumps(message, default=repr).encode()


def send(channel: socket.socket, message: Any) -> None:
    """Send ``message`` (see :func:`encode`)."""
    send_encoded(channel, encode(message))


def send_encoded(channel: socket.socket, encoded: bytes) -> None:
    """Send a message already :func:`encode`-d (by a sender that checks its size first)."""
    channel.sendall(_HEADER.pack(len(encoded)) + encoded)


def receive(channel: socket.socket) -> Any:
    """The next message, or ``None`` once the other end has closed (or died)."""
    header = _read(channel, _HEADER.size)
    if header is None:
        return None
    body = _read(channel, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def _read(channel: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = channel.recv(min(size - len(chunks), 1 << 20))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)
