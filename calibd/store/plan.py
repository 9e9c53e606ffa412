"""What one group commit writes, decided once for every backend (`plan_commit`).

A backend reads which keys are done (`existing`) and which completed waits are still open in
its transaction, then `plan_commit` walks the items: a duplicate (by status, a completed key,
the same key earlier in the batch, or a wait completed already) writes nothing but its inbox
row's removal; every other item contributes its ledger row, products, outbox rows, dead
letter (through the backend's `insert_dead_letter`, which says whether the origin was new)
and waits. The backend then writes the plan's rows in its own SQL.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calibd.store.records import Completion, DeadLetterRecord, OutboxRecord, ProductRecord
from calibd.store.rules import product_of_wait

__all__ = ["CommitPlan", "LedgerRow", "plan_commit", "waits_to_wake", "woken_by"]

LedgerRow = tuple[str, str, str | None, str, str, str, str, str | None]
"""(source, event_id, event_type, status, transport, product ids JSON, finished_at, digest)."""


@dataclass
class CommitPlan:
    products: list[ProductRecord] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)
    ledger: list[LedgerRow] = field(default_factory=list)
    inbox_done: list[int] = field(default_factory=list)
    waits: list[dict[str, Any]] = field(default_factory=list)
    """New wait rows, with `created_at`."""
    resolves: list[tuple[str, str, str]] = field(default_factory=list)
    """(resolved_by, kind, key) of pending waits that become ready."""
    wait_updates: list[tuple[str | None, str, str | None, int]] = field(default_factory=list)
    """(status, finished_at, detail, id) of the stored waits completed."""


async def plan_commit(
    items: Sequence[Completion],
    existing: Iterable[tuple[str, str]],
    open_waits: Iterable[int],
    now: str,
    insert_dead_letter: Callable[[DeadLetterRecord], Awaitable[int | None]],
) -> CommitPlan:
    """The rows to write for `items` (each item's `was_duplicate` and `dead_letter_id` set).
    `insert_dead_letter` writes a dead letter and returns its id, None when its origin was
    dead-lettered before (a redelivery)."""
    done, still_open = set(existing), set(open_waits)
    seen: set[tuple[str, str]] = set()
    plan = CommitPlan()
    for c in items:
        c.was_duplicate, c.dead_letter_id = False, None  # a rolled-back attempt may have set them
    for c in items:
        if c.inbox_id is not None:
            plan.inbox_done.append(c.inbox_id)
        key = c.key
        if (
            c.status == "duplicate"
            or (key and (key in done or key in seen))
            or (c.wait_id is not None and c.wait_id not in still_open)
        ):
            c.was_duplicate = True
            continue
        if c.wait_id is not None:
            still_open.discard(c.wait_id)
            plan.wait_updates.append((c.wait_status, now, c.wait_detail, c.wait_id))
        plan.waits.extend({**w, "created_at": now} for w in c.waits)
        plan.resolves.extend((r[2], r[0], r[1]) for r in c.resolves)
        if key:
            seen.add(key)
        plan.outbox.extend(c.outbox)
        if c.dead_letter is not None:
            c.dead_letter_id = await insert_dead_letter(c.dead_letter)
            if c.dead_letter_id is None:
                c.was_duplicate = True
            elif c.dlq is not None:
                plan.outbox.append(c.dlq(c.dead_letter_id))
        plan.products.extend(c.products)
        if key:
            ids = json.dumps([p.id for p in c.products])
            plan.ledger.append(
                (key[0], key[1], c.event_type, c.status, c.transport, ids, now, c.digest)
            )
    return plan


def waits_to_wake(
    waits: Iterable[dict[str, Any]],
) -> list[tuple[dict[str, Any], tuple[str, int | None]]]:
    """New product waits whose handler looked from `since`, each with its (product type,
    telescope): a product of that kind committed since then makes the wait ready at once
    (no lost wake-up between the handler's look and the commit)."""
    return [
        (w, product)
        for w in waits
        if w.get("since") and (product := product_of_wait(w["kind"], w["key"])) is not None
    ]


def woken_by(product_id: str) -> str:
    """The `resolved_by` JSON of a wait made ready by a product."""
    return json.dumps({"product_id": product_id})
