"""Running one ``nrn_scripts`` line, and what it produced: Graph lines, Vectors, spikes,
printed output. Runs in the item's own isolated process (a fresh NEURON)."""

from __future__ import annotations

import base64
import ctypes
import os
import runpy
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import patch
from patch.exceptions import PatchError

from ..leaks import hoc_variables
from .lines import ScriptLine

#: ``(x, y)``, or the values alone (no time axis: compared point by point).
Trace = "tuple[np.ndarray, np.ndarray] | np.ndarray"


class ScriptFailed(Exception):
    """The script or one of its statements failed; the message says which and how."""


@dataclass
class Produced:
    """What a script left behind."""

    #: Lines of the hoc Graphs, ``"Graph[0]: soma.v(0.5)"`` -> ``(x, y)``.
    graphs: dict[str, Any] = field(default_factory=dict)
    #: Vectors in named variables, ``"vsoma"`` -> values.
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    #: Spike times recorded by NetCons into named Vectors, by variable.
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    #: What the script printed (stdout), and its error output (not compared).
    output: str = ""
    errors: str = ""
    #: Why the Graphs were not read (no display), or ``None``.
    graphs_skipped: str | None = None

    def to_message(self) -> dict[str, Any]:
        """As JSON-able data, for the session (floats as Python floats: exact)."""

        def trace(value: Any) -> Any:
            if isinstance(value, tuple):
                return [_encode(value[0]), _encode(value[1])]
            return _encode(value)

        return {
            "graphs": {name: trace(value) for name, value in self.graphs.items()},
            "vectors": {name: _encode(value) for name, value in self.vectors.items()},
            "spikes": {name: _encode(value) for name, value in self.spikes.items()},
            "output": self.output,
            "errors": self.errors,
            "graphs_skipped": self.graphs_skipped,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Produced:
        def trace(value: Any) -> Any:
            if isinstance(value, list):
                return _decode(value[0]), _decode(value[1])
            return _decode(value)

        return cls(
            graphs={name: trace(value) for name, value in message["graphs"].items()},
            vectors={name: _decode(v) for name, v in message["vectors"].items()},
            spikes={name: _decode(v) for name, v in message["spikes"].items()},
            output=message["output"],
            errors=message["errors"],
            graphs_skipped=message["graphs_skipped"],
        )


def _encode(values: np.ndarray) -> str:
    """float64 values as text for the JSON wire, bit for bit (base64 of their bytes)."""
    return base64.b64encode(np.ascontiguousarray(values, "<f8").tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f8").copy()


def run(line: ScriptLine, *, graphs: bool = True) -> Produced:
    """Load ``line``'s script from its folder, run its statements, collect what it made
    (the Graphs' lines only when ``graphs``, and only when NEURON has a display)."""
    produced = Produced()
    os.chdir(line.path.parent)
    namespace: dict[str, Any] = {}
    streams = _Streams()
    try:
        with _captured(streams):
            if line.language == "hoc":
                _run_hoc(line)
            else:
                namespace = _run_python(line)
    except ScriptFailed as failure:
        raise ScriptFailed(f"{failure}{streams.tail()}") from None
    produced.output, produced.errors = streams.out, streams.err
    h = patch.transform(patch.p)
    count = int(h.List("Graph").count())
    if graphs and patch.has_display():
        produced.graphs = graph_lines(h)
    elif count:
        why = (
            "no Xvfb and no usable DISPLAY"
            if graphs
            else "NEURON started before pytest-patch could give it a display"
        )
        produced.graphs_skipped = (
            f"{count} hoc Graphs not read: NEURON has no display ({why}), and reading one "
            "would crash it"
        )
    for name, values in named_vectors(namespace).items():
        if _spike_times(values, float(h.t)):
            produced.spikes[name] = values
        else:
            produced.vectors[name] = values
    return produced


def _run_hoc(line: ScriptLine) -> None:
    h = patch.transform(patch.p)
    try:
        h.xopen(line.path.name)
    except RuntimeError as error:
        raise ScriptFailed(f"hoc error while loading {line.path.name}: {error}") from None
    for statement in line.statements:
        try:
            patch.p(statement)
        except PatchError as error:
            raise ScriptFailed(f"the hoc statement `{statement}` failed: {error}") from None


def _run_python(line: ScriptLine) -> dict[str, Any]:
    folder = str(line.path.parent)
    sys.path.insert(0, folder)
    sys.argv = [line.path.name]
    try:
        namespace = runpy.run_path(line.path.name, run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise ScriptFailed(f"{line.path.name} exited with status {stop.code}") from None
        return {}
    except Exception:
        raise ScriptFailed(
            f"{line.path.name} raised:\n{_script_traceback(line.path.name)}"
        ) from None
    for statement in line.statements:
        try:
            exec(compile(statement, f"<nrn_scripts: {statement}>", "exec"), namespace)
        except Exception:
            raise ScriptFailed(
                f"the statement `{statement}` raised:\n{_script_traceback('<nrn_scripts')}"
            ) from None
    return namespace


def _script_traceback(start: str) -> str:
    """The current exception's traceback from the script's own frames on."""
    lines = traceback.format_exc().splitlines()
    first = next((i for i, text in enumerate(lines) if start in text), 1)
    return "\n".join(lines[first:])


def graph_lines(h: Any) -> dict[str, Any]:
    """Every line of every hoc Graph: ``"<graph>: <label>"`` -> ``(x, y)``.

    A line whose x goes backwards (a phase plot) is two traces on no time axis:
    ``"<graph>: <label>"`` (y) and ``"<graph>: <label> (x)"``.
    """
    out: dict[str, Any] = {}
    graphs = h.List("Graph")
    x, y = h.Vector(), h.Vector()
    for i in range(int(graphs.count())):
        graph = graphs.o(i)
        index = -1
        while True:
            index = int(graph.getline(index, x, y))
            if index == -1:
                break
            if int(y.size()) == 0:
                continue
            label = str(y.label() or x.label() or f"line {index}").strip()
            name = _unique(out, f"{graph.hname()}: {label}")
            xs, ys = np.array(x.as_numpy(), float), np.array(y.as_numpy(), float)
            if xs.size > 1 and np.any(np.diff(xs) < 0):
                out[name] = ys
                out[f"{name} (x)"] = xs
            else:
                out[name] = (xs, ys)
    return out


def named_vectors(namespace: dict[str, Any]) -> dict[str, np.ndarray]:
    """Non-empty Vectors held by hoc variables (top level, template instances' public
    objrefs) and by the Python script's module-level names, named by the shortest
    variable that reaches each."""
    out: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for hoc_name, (paths, vector) in sorted(hoc_variables().items()):
        if not hoc_name.startswith("Vector["):
            continue
        seen.add(hoc_name)
        values = np.array(vector.as_numpy(), float)
        if values.size:
            out[_unique(out, min(paths, key=lambda p: (len(p), p)))] = values
    for variable, value in _python_vectors(namespace):
        hoc_name = str(value.hname())
        if hoc_name not in seen:
            seen.add(hoc_name)
            values = np.array(value.as_numpy(), float)
            if values.size:
                out[_unique(out, variable)] = values
    return out


def _python_vectors(namespace: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The Vectors of a Python script's module-level names, and those in its module-level
    dicts, lists and tuples (``vec['v_soma']``, ``traces[2]``)."""

    def is_vector(value: Any) -> bool:
        return (
            hasattr(value, "as_numpy")
            and hasattr(value, "hname")
            and str(value.hname()).startswith("Vector[")
        )

    for variable, value in sorted(namespace.items()):
        if variable.startswith("_"):
            continue
        if is_vector(value):
            yield variable, value
        elif isinstance(value, dict):
            for key, item in value.items():
                if is_vector(item):
                    yield f"{variable}[{key!r}]", item
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if is_vector(item):
                    yield f"{variable}[{index}]", item


def _spike_times(values: np.ndarray, now: float) -> bool:
    """Whether a Vector looks like spike times (``NetCon.record``, ``APCount.record``):
    increasing times after 0 and at most the current time (a recorded time axis starts
    at 0). Such a Vector is compared spike by spike, within the spike window."""
    if not np.all(np.isfinite(values)) or values[0] <= 0 or values[-1] > now + 1e-9:
        return False
    return bool(values.size == 1 or np.all(np.diff(values) >= 0))


def _unique(taken: dict[str, Any], name: str) -> str:
    unique, count = name, 1
    while unique in taken:
        count += 1
        unique = f"{name} #{count}"
    return unique


@dataclass
class _Streams:
    out: str = ""
    err: str = ""

    def tail(self, lines: int = 30) -> str:
        """The end of the error output (else of the output), for a failure message."""
        text = (self.err.strip() or self.out.strip()).splitlines()
        if not text:
            return ""
        cut = f"  ... ({len(text) - lines} lines before)\n" if len(text) > lines else ""
        shown = "\n".join(f"  {line}" for line in text[-lines:])
        return f"\nIts {'error ' if self.err.strip() else ''}output:\n{cut}{shown}"


@contextmanager
def _captured(streams: _Streams) -> Iterator[None]:
    """Everything written to stdout and stderr, by Python, hoc or C, in order, into
    ``streams`` once the block ends."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    libc.fflush(None)
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    saved = [os.dup(1), os.dup(2)]
    python_streams = sys.stdout, sys.stderr
    for fd, file in zip((1, 2), files, strict=False):
        os.dup2(file.fileno(), fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
    texts: list[str] = []
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        libc.fflush(None)
        ours = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = python_streams
        for stream in ours:
            stream.close()
        for fd, copy in zip((1, 2), saved, strict=False):
            os.dup2(copy, fd)
            os.close(copy)
        for file in files:
            file.seek(0)
            texts.append(file.read().decode("utf-8", errors="replace"))
            file.close()
        streams.out, streams.err = texts
