"""Replay: a JSON-lines file of CloudEvents envelopes, one per line, through the pipeline."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from pathlib import Path

from calibd.transports.base import Admission, RawMessage

__all__ = ["replay_file"]


async def replay_file(path: Path, pipeline: Admission) -> Counter[str]:
    """Submit every non-empty line of `path`; wait for all outcomes; count them by status."""
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
            futures.append(await pipeline.submit(raw))
    counts: Counter[str] = Counter()
    for fut in futures:
        counts[(await fut).status] += 1
    return counts
