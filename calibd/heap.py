"""The garbage collector of a long-running daemon, tuned once at start-up.

What calibd loads before its first message (modules, pydantic models, settings, the
registry) lives until it exits. `settle_heap` moves it out of the collector's sight
(`gc.freeze`) and makes young collections rarer, so each message's short-lived objects are
not paid for by walking the whole heap: measured with `bench/dispatch_throughput.py`, this
was about 17 of the ~100 microseconds of CPU per message of a no-op handler. Reference
cycles are still collected, only less often.

`release_freed_memory` hands memory the C allocator keeps after large frees back to the system
(glibc's `malloc_trim`): protozfits frees its buffers of a DL0 file on close, but glibc keeps
about 180 MB of them mapped in a worker, which the next step's peak would add to.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from typing import Any

__all__ = ["YOUNG_THRESHOLD", "release_freed_memory", "settle_heap"]

#: allocations between young collections (CPython's default is 700)
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, freeze what survives and raise the young-generation threshold."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


@functools.cache
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Return the C heap's free memory to the system (glibc only; elsewhere nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
