"""SQLite rows to the store's read records (times parsed, JSON columns decoded)."""

from __future__ import annotations

import json

import aiosqlite

from calibd.store.records import (
    ConfigVersionRow,
    DueWait,
    InboxRow,
    InputProduct,
    PendingDelivery,
    ReleasedDeadLetter,
    ReprocessCandidate,
)
from calibd.store.times import parse_time

__all__ = [
    "config_version_row",
    "due_wait",
    "inbox_row",
    "input_product",
    "pending_delivery",
    "released_dead_letter",
    "reprocess_candidate",
]


def inbox_row(r: aiosqlite.Row) -> InboxRow:
    return InboxRow(
        id=r["id"],
        transport=r["transport"],
        origin=r["origin"],
        payload=r["payload"],
        headers=r["headers"],
        received_at=parse_time(r["received_at"]),  # type: ignore[arg-type]
    )


def due_wait(r: aiosqlite.Row) -> DueWait:
    return DueWait(
        id=r["id"],
        handler=r["handler"],
        kind=r["kind"],
        key=r["key"],
        status=r["status"],
        deadline=parse_time(r["deadline"]),  # type: ignore[arg-type]
        created_at=parse_time(r["created_at"]),  # type: ignore[arg-type]
        event_source=r["event_source"],
        event_id=r["event_id"],
        input_message=r["input_message"],
        input_transport=r["input_transport"],
        input_origin=r["input_origin"],
        state=r["state"],
        resolved_by=r["resolved_by"],
        finished_at=parse_time(r["finished_at"]),
        detail=r["detail"],
        attempts=r["attempts"],
        retry_at=parse_time(r["retry_at"]),
    )


def pending_delivery(r: aiosqlite.Row) -> PendingDelivery:
    return PendingDelivery(
        seq=r["seq"],
        event_id=r["event_id"],
        event_type=r["event_type"],
        channel=r["channel"],
        subtopic=r["subtopic"],
        key=r["key"],
        envelope=r["envelope"],
    )


def config_version_row(r: aiosqlite.Row) -> ConfigVersionRow:
    return ConfigVersionRow(
        version=r["version"],
        created_at=parse_time(r["created_at"]),  # type: ignore[arg-type]
        requested_by=r["requested_by"],
        reason=r["reason"],
        event_id=r["event_id"],
        changes=json.loads(r["changes"]),
        overlay=json.loads(r["overlay"]),
        effective=json.loads(r["effective"]),
        config_hash=r["config_hash"],
    )


def released_dead_letter(r: aiosqlite.Row) -> ReleasedDeadLetter:
    return ReleasedDeadLetter(
        id=r["id"],
        origin_key=r["origin_key"],
        transport=r["transport"],
        origin=r["origin"],
        received_at=parse_time(r["received_at"]),  # type: ignore[arg-type]
        event_id=r["event_id"],
        event_type=r["event_type"],
        event_source=r["event_source"],
        reason=r["reason"],
        detail=r["detail"],
        payload=bytes(r["payload"]),
        headers=r["headers"],
    )


def reprocess_candidate(r: aiosqlite.Row) -> ReprocessCandidate:
    return ReprocessCandidate(
        id=r["id"],
        product_type=r["product_type"],
        tel_id=r["tel_id"],
        category=r["category"],
        valid_from=parse_time(r["valid_from"]),  # type: ignore[arg-type]
        input_source=r["input_source"],
        input_event_id=r["input_event_id"],
    )


def input_product(r: aiosqlite.Row) -> InputProduct:
    return InputProduct(
        id=r["id"],
        product_type=r["product_type"],
        tel_id=r["tel_id"],
        category=r["category"],
        status=r["status"],
    )
