"""Records the contract tests commit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from calibd.store import Completion, DeadLetterRecord, OutboxRecord, ProductRecord, format_time


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ft(text: str) -> str:
    return format_time(t(text))  # type: ignore[return-value]


def at(created: str) -> str:
    """A stored time as it is; an ordinal ("1", "2") as that many seconds into the test
    period (later products are made later)."""
    if not created.isdigit():
        return created
    return format_time(t("2026-06-01T00:00:00") + timedelta(seconds=int(created)))  # type: ignore[return-value]


def product(
    pid: str,
    category: str,
    start: str,
    end: str | None = None,
    created: str = "1",
    product_type: str = "camera_calibration",
    tel_id: int | None = 1,
) -> ProductRecord:
    return ProductRecord(
        id=pid,
        product_type=product_type,
        tel_id=tel_id,
        category=category,
        valid_from=start,
        valid_to=end,
        created_at=at(created),
        input_source="s",
        input_event_id=pid,
        algorithm="a",
        algorithm_version="1",
        config_hash="h",
        payload="{}",
        summary="{}",
        arrays=None,
        provenance={
            "input_message": b"{}",
            "input_transport": "t",
            "input_origin": "o",
            "input_files": "[]",
            "algorithm": "a",
            "algorithm_version": "1",
            "handler": "h",
            "config": "{}",
            "config_hash": "h",
            "software": "{}",
            "host": "x",
            "started_at": at("1"),
            "finished_at": at("2"),
        },
    )


def done(eid: str, *products: ProductRecord, **fields) -> Completion:
    return Completion(
        status="done",
        transport="t",
        source="s",
        event_id=eid,
        event_type="ctao.acada.flatfield_run",
        products=list(products),
        **fields,
    )


def notice(nid: str, sinks: tuple[str, ...] = ("kafka", "mqtt"), channel="products"):
    return OutboxRecord(
        event_id=nid,
        event_type="ctao.calibpipe.calibration_ready",
        channel=channel,
        envelope=json.dumps({"id": nid}).encode(),
        sinks=sinks,
        subtopic="camera_calibration",
        key="k",
    )


def dead(eid: str, origin_key: str | None = None) -> Completion:
    return Completion(
        status="dead",
        transport="t",
        source="s",
        event_id=eid,
        event_type="ctao.acada.flatfield_run",
        dead_letter=DeadLetterRecord(
            origin_key=origin_key or f"t:{eid}",
            transport="t",
            origin="o",
            reason="bad_input",
            detail="no such file",
            payload=b"payload of " + eid.encode(),
            headers=json.dumps({"h": "v"}),
            event_id=eid,
            event_type="ctao.acada.flatfield_run",
            event_source="s",
        ),
    )


def wait(
    eid: str,
    kind: str,
    key: str,
    deadline: datetime,
    since: datetime | None = None,
    handler: str = "h",
) -> dict:
    row = {
        "handler": handler,
        "kind": kind,
        "key": key,
        "deadline": format_time(deadline),
        "event_source": "s",
        "event_id": eid,
        "input_message": b"{}",
        "input_transport": "t",
        "input_origin": "o",
        "state": json.dumps({"n": 1}),
    }
    if since is not None:
        row["since"] = format_time(since)
    return row


def now() -> datetime:
    return datetime.now(UTC)


def later(seconds: float) -> datetime:
    return now() + timedelta(seconds=seconds)
