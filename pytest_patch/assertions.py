"""Assertions for NEURON results whose failures say where and by how much, on any number of ranks.

The collective helpers (:func:`assert_all`, :func:`check_broadcast_roundtrip`) must be
called on every rank; they exchange verdicts before failing, so all ranks fail together
and none is left waiting. With one process they work the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import patch

from ._validate import is_integer
from .compare import Raster, TraceComparison, compare_spikes
from .compare.text import near as _near, number
from .recording import Recording

__all__ = [
    "assert_all",
    "assert_delivered",
    "assert_spikes_equal",
    "assert_traces_equal",
    "check_broadcast_roundtrip",
    "explain_vector_comparison",
    "spike_times",
]

# Spike and delivery times of the same model agree to rounding; ms.
_SPIKE_ATOL = 1e-9


def _values(data: Any) -> np.ndarray:
    """A float array from a Vector, a Recording, or anything numpy accepts."""
    if isinstance(data, Recording):
        return data.values
    if _is_vector(data):
        return np.array(data.as_numpy(), dtype=float)
    return np.asarray(data, dtype=float)


def _is_vector(data: Any) -> bool:
    """Whether ``data`` is a NEURON Vector (raw or Patch's): it has the Vector methods."""
    return hasattr(data, "as_numpy") and hasattr(data, "hname")


def assert_traces_equal(
    actual: Any,
    expected: Any,
    *,
    rtol: float = 1e-7,
    atol: float = 0.0,
    time: Any = None,
) -> None:
    """Assert two traces are equal within ``atol + rtol * |expected|`` at every point.

    Takes Vectors, :class:`~pytest_patch.Recording` objects or arrays. The failure
    names the first differing point (and its time, from ``time`` or a Recording), the
    size of the difference, how many points differ and where the largest difference is.
    """
    __tracebackhide__ = True
    a, e = _values(actual), _values(expected)
    if time is None:
        time = next((x.time for x in (actual, expected) if isinstance(x, Recording)), None)
    times = None if time is None else _values(time).ravel()
    problems = []
    if a.shape != e.shape:
        problems.append(f"shapes differ: actual {a.shape}, expected {e.shape}")
        if a.ndim == e.ndim == 1:
            n = min(len(a), len(e))
            a, e = a[:n], e[:n]
        else:
            raise AssertionError("traces differ: " + problems[0])
    result = TraceComparison("", None, e.ravel(), a.ravel(), rtol, atol)
    if result.ok:
        if problems:
            raise AssertionError(
                f"traces differ: {problems[0]} (the first {a.size} points agree; "
                "was the run longer, or dt different?)"
            )
        return
    problems += result.explain(times)
    raise AssertionError("traces differ:\n  " + "\n  ".join(problems))


def spike_times(spikes: np.ndarray, gid: int) -> np.ndarray:
    """The sorted spike times of ``gid`` in a spike array from ``SpikeRecorder``."""
    return np.sort(spikes["time"][spikes["gid"] == gid])


def _spike_array(data: Any) -> np.ndarray:
    array = data if isinstance(data, np.ndarray) and data.dtype.names else None
    return array if array is not None else np.sort(_values(data).ravel())


def assert_spikes_equal(actual: Any, expected: Any, *, atol: float = _SPIKE_ATOL) -> None:
    """Assert two sets of spikes are the same, to ``atol`` ms.

    Takes spike times (arrays, Vectors) or spike arrays with ``gid`` and ``time``
    fields (``p.parallel.record_spikes().gather()``), which are compared gid by gid
    whatever rank each spike came from. The failure names the first differing gid and
    spike and shows the spike times around it.
    """
    __tracebackhide__ = True
    a, e = _spike_array(actual), _spike_array(expected)
    if bool(a.dtype.names) != bool(e.dtype.names):
        raise TypeError(
            "assert_spikes_equal: compare spike times with spike times, or spike arrays "
            "(with gid and time fields) with spike arrays, not one with the other."
        )
    if not a.dtype.names:
        result = compare_spikes(Raster.from_mapping({0: e}), Raster.from_mapping({0: a}), atol)
        if not result.ok:
            raise AssertionError(
                f"spikes differ (atol={atol:g} ms): {result.explain(by_gid=False)}"
            )
        return
    result = compare_spikes(Raster.from_array(e), Raster.from_array(a), atol)
    if not result.ok:
        raise AssertionError(f"spikes differ (atol={atol:g} ms):{result.explain()}")


def assert_delivered(
    spikes: np.ndarray,
    source: int,
    *receivers: Any,
    delay: float,
    latency: float = 0.0,
    atol: float = _SPIKE_ATOL,
) -> None:
    """Assert every spike of gid ``source`` reached each receiver after ``delay`` ms.

    ``spikes`` is a spike array (``p.parallel.record_spikes().gather()``). Each receiver
    is a gid (its spikes in ``spikes`` are the arrivals) or a sequence of arrival times
    (e.g. recorded in a ``NET_RECEIVE`` block). Every source spike at ``s`` needs an
    arrival in ``[s + delay, s + delay + latency]`` (``latency``: how long a receiving
    cell takes to answer), and no arrival may fall outside those windows.

    Example::

        spikes = recorder.gather()
        assert_delivered(spikes, 0, 1, 2, delay=5.0, latency=3.0)
    """
    __tracebackhide__ = True
    if not receivers:
        raise TypeError("assert_delivered: name at least one receiver (a gid or arrival times).")
    if delay < 0 or latency < 0:
        raise ValueError(f"assert_delivered: delay={delay!r} and latency={latency!r} must be >= 0.")
    sent = spike_times(spikes, source)
    if not sent.size:
        fired = sorted(set(spikes["gid"].tolist()))
        raise AssertionError(
            f"gid {source} never fired, so nothing could be delivered (gids that fired: {fired})."
        )
    problems = []
    for receiver in receivers:
        if is_integer(receiver):
            name, arrivals = f"gid {receiver}", spike_times(spikes, int(receiver))
        else:
            name, arrivals = "receiver", np.sort(_values(receiver).ravel())
        found = _delivery_problems(sent, arrivals, delay, latency, atol)
        if found:
            window = f"{number(delay)} ms"
            if latency:
                window += f" (+ up to {number(latency)} ms)"
            problems.append(f"{name}: spikes of gid {source} should arrive {window} later\n{found}")
    if problems:
        raise AssertionError("spikes not delivered as expected:\n" + "\n".join(problems))


def _delivery_problems(
    sent: np.ndarray, arrivals: np.ndarray, delay: float, latency: float, atol: float
) -> str:
    """What went wrong delivering ``sent`` spikes as ``arrivals``; empty when nothing did."""
    starts, ends = sent + delay - atol, sent + delay + latency + atol
    # Each spike's first arrival at or after the start of its window must be inside it.
    index = np.searchsorted(arrivals, starts)
    candidate = arrivals[np.minimum(index, arrivals.size - 1)] if arrivals.size else np.inf
    reached = (index < arrivals.size) & (candidate <= ends)
    # And every arrival must belong to some spike's window.
    stray = ~((arrivals[:, None] >= starts) & (arrivals[:, None] <= ends)).any(axis=1)
    lines = []
    if not reached.all():
        missing = int(np.argmin(reached))
        lines.append(
            f"  {int((~reached).sum())} of {sent.size} not delivered; first sent at "
            f"{number(sent[missing])} ms, due at {number(sent[missing] + delay)} ms"
        )
    if stray.any():
        odd = int(np.argmax(stray))
        lines.append(
            f"  {int(stray.sum())} arrivals match no spike (too early, too late or extra); "
            f"first at {number(arrivals[odd])} ms"
        )
        near = int(np.searchsorted(sent, arrivals[odd] - delay))
        lines.append(f"  sent    {_near(sent, near, mark=False)}")
        lines.append(f"  arrived {_near(arrivals, odd)}")
    elif lines:
        near = int(np.searchsorted(arrivals, starts[missing]))
        lines.append(f"  sent    {_near(sent, missing)}")
        lines.append(f"  arrived {_near(arrivals, near, mark=False)}")
    return "\n".join(lines)


def assert_all(condition: Any, message: str = "assertion failed") -> None:
    """Assert ``condition`` on every rank; every rank fails if it is false on any.

    Call it on every rank (it is collective): each rank learns every rank's verdict,
    so they all raise the same ``AssertionError``, which names the failing ranks and
    their messages, and none is left waiting in a later collective.
    """
    __tracebackhide__ = True
    context = patch.p.parallel
    verdicts = context.allgather(None if condition else str(message))
    failed = [(rank, text) for rank, text in enumerate(verdicts) if text is not None]
    if failed:
        ranks = ", ".join(str(rank) for rank, _ in failed)
        details = "\n".join(f"  rank {rank}: {text}" for rank, text in failed)
        raise AssertionError(
            f"failed on rank{'s' * (len(failed) > 1)} {ranks} of {len(verdicts)}:\n{details}"
        )


def _same(a: Any, b: Any) -> bool:
    """Deep equality that understands numpy arrays and Vectors."""
    if _is_vector(a) or _is_vector(b):
        return _same(_values(a), _values(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, float) and a != a:
        return b != b
    try:
        return bool(a == b)
    except Exception:
        return False


def check_broadcast_roundtrip(
    payload: Any,
    *,
    roots: Sequence[int] | None = None,
    equal: Callable[[Any, Any], bool] | None = None,
) -> None:
    """Broadcast ``payload`` from every root and check every rank got it intact.

    Collective: call it on every rank with the same ``payload``. For each root (all
    ranks unless ``roots`` is given) ``p.parallel.broadcast`` sends the root's copy, and
    every rank compares what arrived with its own copy (``equal``, default: deep
    equality that understands numpy arrays and Vectors). All ranks then fail together,
    naming each failing rank and root.
    """
    __tracebackhide__ = True
    context = patch.p.parallel
    compare = equal or _same
    failures = []
    for root in range(context.size) if roots is None else roots:
        received = context.broadcast(payload if context.rank == root else None, root=root)
        if not compare(received, payload):
            failures.append(f"from root {root} got {_short(received)}, expected {_short(payload)}")
    assert_all(not failures, "; ".join(failures))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def explain_vector_comparison(left: Any, right: Any) -> list[str] | None:
    """Lines for pytest's report of ``assert a == b`` when either side is a Vector.

    NEURON compares hoc objects by identity, so two Vectors holding the same values are
    not ``==``; the explanation says so and shows where their values differ.
    """
    vectors = [x for x in (left, right) if _is_vector(x)]
    if not vectors:
        return None
    lines = [
        f"{left!r} == {right!r}",
        "NEURON compares Vectors by identity, not by value: compare their values with "
        "pytest_patch.assert_traces_equal(actual, expected).",
    ]
    try:
        assert_traces_equal(left, right, rtol=0.0)
    except AssertionError as error:
        lines.extend(str(error).splitlines())
    except (TypeError, ValueError):
        pass
    else:
        lines.append("Their values are equal.")
    return lines
