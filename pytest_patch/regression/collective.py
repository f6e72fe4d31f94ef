"""One decision for every rank: each rank's part gathered, rank 0 decides, every rank gets
the verdict. With one process nothing is sent.

A part that cannot be made (its ``TypeError`` or ``ValueError``) and a decision that
raises become the verdict too, so no rank is left waiting for one that raised.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import patch

Verdict = TypeVar("Verdict")


def decide_on_rank_0(
    local: Callable[[], Any],
    decide: Callable[[list[Any]], Verdict],
    failed: Callable[[str, str], Verdict],
) -> Verdict:
    """Gather ``local()`` of every rank; rank 0 ``decide``\\ s on the list of parts (by rank);
    every rank returns its verdict. ``failed(exception name, message)`` is the verdict when
    a rank's part or the decision raised."""
    __tracebackhide__ = True
    try:
        part: Any = ("ok", local())
    except (TypeError, ValueError) as error:
        part = ("error", type(error).__name__, str(error))
    parallel = patch.p.parallel
    size, rank = parallel.size, parallel.rank
    parts = [part] if size == 1 else parallel.allgather(part)
    verdict: Any = None
    if rank == 0:
        bad = [(r, p) for r, p in enumerate(parts) if p[0] == "error"]
        if bad:
            r, (_, kind, message) = bad[0]
            where = f"on rank {r}: " if size > 1 else ""
            verdict = failed(kind, where + message)
        else:
            try:
                verdict = decide([p[1] for p in parts])
            except (TypeError, ValueError) as error:
                verdict = failed(type(error).__name__, str(error))
            except Exception:
                if size == 1:
                    raise
                # The other ranks wait for a verdict: send them the error instead.
                verdict = failed("RuntimeError", traceback.format_exc())
    if size > 1:
        verdict = parallel.broadcast(verdict, root=0)
    return verdict
