"""The test handlers' code: a product per message (`echo`), or nothing (`nothing`); the
modules that register them for event types are `echo_handler` and `echo_weather_handler`."""

from __future__ import annotations

import os
import time

import numpy as np
from pydantic import BaseModel

from calibd.registry import HandlerResult, ProductDraft


class EchoConfig(BaseModel):
    cpu_seconds: float = 0.0
    crash_marker: str | None = None
    summary_bytes: int = 0
    """Pad the product summary (and so its notification) to about this size."""


def burn(seconds: float, marker: str | None) -> dict:
    """CPU work in a worker process; with a marker file present, the worker dies once."""
    if marker and os.path.exists(marker):
        os.unlink(marker)
        os._exit(17)
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return {"pid": os.getpid(), "spins": n}


async def echo(event, ctx) -> HandlerResult:
    files = [await ctx.resolve_file(f) for f in (getattr(event.data, "files", None) or [])]
    worker = None
    if ctx.config.cpu_seconds > 0 or ctx.config.crash_marker:
        worker = await ctx.run_cpu(burn, ctx.config.cpu_seconds, ctx.config.crash_marker)
    valid_from = event.time or getattr(event.data, "run_start", None) or event.data.time
    draft = ProductDraft(
        product_type=f"echo_{event.type.rsplit('.', 1)[-1]}",
        tel_id=getattr(event.data, "tel_id", None),
        valid_from=valid_from,
        payload={"data": event.data, "files": [str(f) for f in files], "worker": worker},
        arrays={"ramp": np.arange(5, dtype=np.float64)},
        summary={"n_files": len(files)}
        | ({"padding": "x" * ctx.config.summary_bytes} if ctx.config.summary_bytes else {}),
    )
    return HandlerResult(products=[draft])


async def nothing(event, ctx) -> HandlerResult:
    return HandlerResult()
