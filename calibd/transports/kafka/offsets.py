"""Which Kafka offsets may be committed: only past messages whose results are in the DB."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Per partition, the offsets handed to the pipeline and those it has committed to the DB.

    Messages finish out of order; the committable position of a partition is one past the
    longest prefix of finished offsets, so a commit never skips an unfinished message.
    """

    def __init__(self) -> None:
        self._queued: dict[Hashable, deque[int]] = {}
        self._finished: dict[Hashable, set[int]] = {}
        self._position: dict[Hashable, int] = {}
        self._dirty: set[Hashable] = set()

    def started(self, tp: Hashable, offset: int) -> None:
        self._queued.setdefault(tp, deque()).append(offset)
        self._finished.setdefault(tp, set())

    def finished(self, tp: Hashable, offset: int) -> None:
        queued, finished = self._queued.get(tp), self._finished.get(tp)
        if queued is None or finished is None:
            return  # partition was revoked meanwhile
        finished.add(offset)
        while queued and queued[0] in finished:
            done = queued.popleft()
            finished.discard(done)
            self._position[tp] = done + 1
            self._dirty.add(tp)

    def position(self, tp: Hashable) -> int | None:
        """One past the last offset finished in order (None before the first)."""
        return self._position.get(tp)

    def pending(self, tp: Hashable) -> int:
        return len(self._queued.get(tp, ()))

    def take_committable(self, tps: Iterable[Hashable] | None = None) -> dict[Hashable, int]:
        """Positions to commit that changed since the last call (optionally only for `tps`)."""
        wanted = self._dirty if tps is None else self._dirty.intersection(tps)
        out = {tp: self._position[tp] for tp in wanted}
        self._dirty -= set(out)
        return out

    def forget(self, tps: Iterable[Hashable]) -> None:
        for tp in tps:
            for table in (self._queued, self._finished, self._position):
                table.pop(tp, None)
            self._dirty.discard(tp)
