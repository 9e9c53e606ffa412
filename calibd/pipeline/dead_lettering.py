"""The dead-letter stage: a message calibd cannot act on is recorded with its reason, its
notification goes to the outbox, and (with a valid envelope) it enters the ledger."""

from __future__ import annotations

from calibd import codec
from calibd.committer import Committer
from calibd.dead_letter_notice import dead_letter_data
from calibd.dead_letters import build_record
from calibd.errors import MessageError
from calibd.events import CloudEvent
from calibd.events.calibpipe import DeadLetterEvent
from calibd.logs import get_logger
from calibd.pipeline.outbound import Outbound
from calibd.pipeline.outcome import Outcome
from calibd.store import Completion, OutboxRecord
from calibd.transports.base import RawMessage

__all__ = ["DeadLettering", "WaitEnd"]

log = get_logger("calibd.pipeline")

#: (wait id, status to set) when a call ends a stored wait
WaitEnd = tuple[int, str]


class DeadLettering:
    """Records dead letters through the committer."""

    def __init__(self, committer: Committer, outbound: Outbound, max_message_bytes: int) -> None:
        self._committer = committer
        self._outbound = outbound
        self._max_bytes = max_message_bytes

    async def record(
        self,
        raw: RawMessage,
        error: MessageError,
        event: CloudEvent | None = None,
        *,
        key: tuple[str, str] | None = None,
        wait: WaitEnd | None = None,
        ledger: bool = True,
        fallback: bool = False,
        digest: str | None = None,
    ) -> Outcome:
        """Record `raw` as a dead letter; `wait` (if any) fails with it. `ledger=False`: the
        message is in the ledger already. `fallback`: after a failure to store its outcome,
        the plainest record (no ledger entry, no wait), which its content cannot break."""
        if event is not None and not fallback:
            info = {"id": event.id, "type": event.type, "source": event.source}
        else:
            info = codec.peek(raw.payload, raw.headers)
        if key is not None and event is None:
            info = {"source": key[0], "id": key[1], **info}
        record = build_record(raw, error, info, self._max_bytes)
        log.error(
            "message dead-lettered",
            reason=record.reason,
            detail=record.detail,
            event_id=record.event_id,
            event_type=record.event_type,
        )

        def dlq(dead_letter_id: int) -> OutboxRecord:
            notice = self._outbound.envelope(
                DeadLetterEvent,
                str(dead_letter_id),
                dead_letter_data(
                    dead_letter_id,
                    reason=record.reason,
                    detail=record.detail,
                    transport=record.transport,
                    origin=record.origin,
                    event_id=record.event_id,
                    event_type=record.event_type,
                    payload=record.payload,
                    size=len(raw.payload),
                ),
            )
            return self._outbound.record(notice, key=notice.data.event_type)

        # a message with a valid envelope is also entered in the ledger, so a redelivery
        # of it is recognised as a duplicate instead of being dead-lettered again
        in_ledger = ledger and not fallback and (event is not None or key is not None)
        completion = Completion(
            status="dead",
            transport=record.transport,
            source=info.get("source") if in_ledger else None,
            event_id=info.get("id") if in_ledger else None,
            event_type=record.event_type,
            dead_letter=record,
            dlq=dlq,
            inbox_id=raw.inbox_id,
            outbox=[self._outbound.message(m) for m in getattr(error, "replies", [])],
            digest=digest if event is not None else None,
        )
        if wait is not None and not fallback:
            completion.wait_id, completion.wait_status = wait[0], "failed"
            completion.wait_detail = f"{error.reason}: {error.detail}"[:2000]
        await self._committer.commit(completion)
        return Outcome(
            status="duplicate" if completion.was_duplicate else "dead",
            event_id=record.event_id,
            event_type=record.event_type,
            reason=record.reason,
            dead_letter_id=completion.dead_letter_id,
        )
