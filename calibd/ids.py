"""Identifiers calibd creates."""

from __future__ import annotations

import functools
import os
import socket
import time
import uuid

__all__ = ["new_product_id", "process_holder"]


def new_product_id() -> str:
    """A time-ordered UUID (version 7 layout, RFC 9562): sorts by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


@functools.cache
def process_holder(instance: str | None = None) -> str:
    """Who this process is when it claims database rows (outbox deliveries, due waits): the
    instance name (default the host's), pid and a random part, unique across restarts."""
    return f"{instance or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
