"""Outbound envelopes: the notifications and messages a commit puts in the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from calibd import codec
from calibd.events import OUTBOUND_MODELS, CloudEvent, sent_on
from calibd.events.calibpipe import CalibrationReady, CalibrationReadyEvent
from calibd.events.envelope import new_event_id
from calibd.jsonable import to_jsonable
from calibd.registry import OutgoingMessage, ProductDraft
from calibd.store import OutboxRecord, ProductRecord

__all__ = ["CHANNEL_OF_TYPE", "Outbound"]

E = TypeVar("E", bound=CloudEvent)

#: outbound `type` -> the name of the channel its model declares
CHANNEL_OF_TYPE = {t: channel.name for channel, types in sent_on().items() for t in types}


class Outbound:
    """Builds outbox rows with calibd's source URI, addressed to every configured sink."""

    def __init__(self, source_uri: str, sinks: tuple[str, ...]) -> None:
        self.source_uri = source_uri
        self.sinks = sinks

    def envelope(
        self, model: type[E], subject: str | None, data: Any, event_id: str | None = None
    ) -> E:
        """An outbound envelope from calibd: a new id (unless given), the time now."""
        return model(
            id=event_id or new_event_id(),
            source=self.source_uri,
            time=datetime.now(UTC),
            subject=subject,
            data=data,
        )

    def ready_notice(self, record: ProductRecord, draft: ProductDraft) -> OutboxRecord:
        """The `calibration_ready` notification of a product."""
        event = self.envelope(
            CalibrationReadyEvent,
            record.id,
            CalibrationReady(
                product_id=record.id,
                product_type=record.product_type,
                tel_id=record.tel_id,
                category=record.category,  # type: ignore[arg-type]
                valid_from=draft.valid_from,
                valid_to=draft.valid_to,
                algorithm=record.algorithm,
                algorithm_version=record.algorithm_version,
                config_hash=record.config_hash,
                input_event_id=record.input_event_id,
                summary=json.loads(record.summary),
            ),
        )
        key = f"{record.product_type}/{record.tel_id}"
        return self.record(event, subtopic=record.product_type, key=key)

    def message(self, message: OutgoingMessage) -> OutboxRecord:
        """A handler's outgoing message as an envelope; TypeError if it is not a valid one."""
        model = OUTBOUND_MODELS.get(message.type)
        if model is None or message.type not in CHANNEL_OF_TYPE:
            raise TypeError(f"{message.type!r} is not an outbound event type")
        data = (
            message.data.model_dump(mode="json")
            if isinstance(message.data, BaseModel)
            else to_jsonable(message.data)
        )
        try:
            event = self.envelope(model, message.subject, data, event_id=message.id)
        except ValidationError as exc:
            raise TypeError(f"invalid outgoing {message.type}: {exc}") from None
        return self.record(event, key=message.subject)

    def record(
        self, event: CloudEvent, subtopic: str | None = None, key: str | None = None
    ) -> OutboxRecord:
        """The outbox row of `event`, on the channel of its type."""
        return OutboxRecord(
            event_id=event.id,
            event_type=event.type,
            channel=CHANNEL_OF_TYPE[event.type],
            envelope=codec.encode(event),
            sinks=self.sinks,
            subtopic=subtopic,
            key=key,
        )
