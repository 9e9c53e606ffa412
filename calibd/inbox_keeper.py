"""The inbox rows of one instance: recovered at start, and taken over from a stopped instance.

Each inbox row names the instance that received it (`owner`). While an instance runs it holds
the lease `inbox:<instance>` (`rules.inbox_lease`, `pipeline.inbox_lease_s`, renewed every
third of it). At start an instance submits again its own rows: the rows another live instance
has in flight stay that instance's. At start and every renewal it also takes over the rows of
any instance whose lease has expired (one that died and was not started again), so no message
durably received by a dead instance waits for it forever, and the rows written before owners
were recorded (each taken by one instance, so not submitted by every instance that starts).
The ledger still makes a row processed twice (a holder that stalled past its lease) a
duplicate, never a second product.
"""

from __future__ import annotations

import asyncio

from calibd.logs import get_logger
from calibd.pipeline import Pipeline
from calibd.store import InboxRow, PipelineStore
from calibd.store.rules import inbox_lease
from calibd.transports.base import inbox_raw

__all__ = ["InboxKeeper"]

log = get_logger("calibd.inbox")


class InboxKeeper:
    def __init__(
        self, store: PipelineStore, pipeline: Pipeline, instance: str, lease_s: float
    ) -> None:
        self.store, self.pipeline = store, pipeline
        self.instance, self.lease_s = instance, lease_s

    async def _hold(self) -> None:
        await self.store.hold_lease(inbox_lease(self.instance), self.instance, self.lease_s)

    async def _submit(self, rows: list[InboxRow]) -> None:
        for row in rows:
            await self.pipeline.submit(inbox_raw(row.id, row.transport, row.origin, row.payload))

    async def recover(self, hold: bool = True) -> int:
        """Take the lease (with `hold`: a daemon, not a one-shot replay), then submit this
        instance's rows a previous run left, and take over the orphaned ones (`adopt`)."""
        if hold:
            await self._hold()
        rows = await self.store.inbox(owner=self.instance)
        await self._submit(rows)
        if rows:
            log.info("recovered messages from the inbox", count=len(rows))
        return len(rows) + await self.adopt(hold=False)

    async def adopt(self, hold: bool = True) -> int:
        """Renew the lease (with `hold`) and take over the rows of instances whose lease
        expired and the rows of no owner."""
        if hold:
            await self._hold()
        rows = await self.store.adopt_inbox(self.instance)
        if rows:
            log.warning(
                "took over inbox rows of a stopped instance or of no owner",
                count=len(rows),
                instances=sorted({r.owner for r in rows if r.owner}),
                unowned=sum(r.owner is None for r in rows),
            )
            await self._submit(rows)
        return len(rows)

    async def run(self) -> None:
        """Every third of the lease: `adopt`; a database error is logged and tried again."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.adopt()
            except Exception as exc:
                log.warning("cannot renew the inbox lease", error=str(exc))
