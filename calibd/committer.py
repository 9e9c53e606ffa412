"""The single writer of message outcomes: group commits, and who is to blame when one fails.

Completions queue up and are written in group transactions. A failed group is classified
(`calibd.faults`): a storage fault fails every message of the group with a StoreError (the
daemon stops, nothing more is acknowledged); any other failure is one message's fault, so the
group is written again message by message, and each message whose own write fails gets
`Unstorable` (the pipeline dead-letters it) while the others are committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from calibd.errors import StoreError
from calibd.faults import Unstorable, is_storage_fault
from calibd.logs import get_logger
from calibd.store import Completion, PipelineStore, StoreBusy, StoreValueError

__all__ = ["Committer"]

log = get_logger("calibd.committer")

Item = tuple[Completion, asyncio.Future[None]]


class Committer:
    """Collects completions and writes them in group transactions (one writer task)."""

    def __init__(self, store: PipelineStore, batch_max: int) -> None:
        self._store = store
        self._batch_max = batch_max
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.on_commit: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="calibd-committer")

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def commit(self, completion: Completion) -> None:
        """Write `completion`; raises StoreError (storage fault) or Unstorable (its own)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((completion, fut))
        await fut

    async def commit_many(self, completions: list[Completion]) -> list[Exception | None]:
        """Write several completions (in as few transactions as the queue allows); for each,
        None or the error `commit` would raise (a StoreError fails them all alike)."""
        loop = asyncio.get_running_loop()
        futs: list[asyncio.Future[None]] = []
        for completion in completions:
            fut: asyncio.Future[None] = loop.create_future()
            self._queue.put_nowait((completion, fut))
            futs.append(fut)
        if futs:
            await asyncio.wait(futs)
        return [f.exception() for f in futs]  # type: ignore[misc]

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[Item]) -> None:
        try:
            await self._commit_with_retry([c for c, _ in batch])
        except Exception as exc:
            if is_storage_fault(exc) or len(batch) == 1:
                self._fail(batch, exc)
                return
            log.warning("group commit failed; writing its messages one by one", error=repr(exc))
            for item in batch:
                await self._write([item])
            return
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)
        self.on_commit()

    @staticmethod
    def _fail(batch: list[Item], exc: Exception) -> None:
        if is_storage_fault(exc):
            error: Exception = StoreError(f"database write failed: {exc}")
        elif isinstance(exc, StoreValueError):  # its text names the driver's error already
            error = Unstorable(str(exc)[:500])
        else:
            error = Unstorable(f"{type(exc).__name__}: {str(exc)[:500]}")
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(error)

    async def _commit_with_retry(self, items: list[Completion], attempts: int = 5) -> None:
        for attempt in range(attempts):
            try:
                await self._store.commit(items)
                return
            except StoreBusy:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1 * 2**attempt)
