"""Replay: a JSON-lines file of CloudEvents envelopes, one per line, through the pipeline."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from pathlib import Path

from calibd.progress import Progress
from calibd.transports.base import Admission, RawMessage

__all__ = ["replay_file"]


async def replay_file(path: Path, pipeline: Admission, bar: Progress | None = None) -> Counter[str]:
    """Submit every non-empty line of `path`; wait for all outcomes; count them by status.
    `bar` counts the outcomes (its total is the number of messages once all are read)."""
    futures = []
    resolved = await asyncio.to_thread(path.resolve)
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            digest = hashlib.sha256(line).hexdigest()[:16]
            raw = RawMessage(
                transport="replay",
                origin=f"{path}:{lineno}",
                origin_key=f"replay:{resolved}:{lineno}:{digest}",
                payload=line,
            )
            future = await pipeline.submit(raw)
            if bar is not None:
                future.add_done_callback(lambda f: bar.advance(note=_status(f)))
            futures.append(future)
    if bar is not None:
        bar.total = len(futures)
    counts: Counter[str] = Counter()
    for fut in futures:
        counts[(await fut).status] += 1
    if bar is not None:  # the last done-callbacks may not have run yet
        bar.done = len(futures)
    return counts


def _status(future: asyncio.Future) -> str:
    if future.cancelled() or future.exception() is not None:
        return "failed"
    return f"last: {future.result().status}"
