"""Retry delays: exponential from a base, capped, with +-20 % jitter (written once)."""

from __future__ import annotations

import random

__all__ = ["backoff_delay", "jittered"]


def jittered(delay: float) -> float:
    """`delay` spread by +-20 %, so that many retriers do not wake together."""
    return delay * random.uniform(0.8, 1.2)


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (1, 2, ...): base * 2**(attempt-1), capped, jittered."""
    doublings = min(max(attempt, 1) - 1, 64)  # 2**64 passes any cap; no float overflow
    return jittered(min(base * 2.0**doublings, cap))
