"""The group commit: each message's ledger row, products, provenance, outbox rows, dead letter
and waits are written in the caller's transaction, together or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

from calibd.store.columns import (
    DEAD_LETTER,
    PRODUCT,
    PROVENANCE,
    WAIT,
    by_category,
    dead_letter_row,
    insert_sql,
    outright,
    product_row,
    provenance_row,
    row_values,
    truncations,
)
from calibd.store.plan import CommitPlan, plan_commit, waits_to_wake, woken_by
from calibd.store.records import Completion, DeadLetterRecord, ProductRecord
from calibd.store.sql import sql_list
from calibd.store.sqlite.reads import fetch_all, fetch_one
from calibd.store.times import now_text as _now

__all__ = ["commit", "existing_keys"]


async def commit(conn: aiosqlite.Connection, items: Sequence[Completion]) -> None:
    existing = await existing_keys(
        conn, [c.key for c in items if c.key], [c.wait_id for c in items if c.wait_id]
    )
    open_waits = await _open_waits(conn, [c.wait_id for c in items if c.wait_id])
    plan = await plan_commit(items, existing, open_waits, _now(), partial(_dead_letter, conn))
    await _write_plan(conn, plan)


def _same(value: object) -> object:
    return value


def _marks(columns: Sequence[str]) -> list[str]:
    return ["?"] * len(columns)


async def _write_plan(conn: aiosqlite.Connection, plan: CommitPlan) -> None:
    """The plan's rows, in an order the foreign keys accept."""
    if products := plan.products:
        await conn.executemany(
            insert_sql("products", PRODUCT, _marks(PRODUCT)),
            [row_values(PRODUCT, product_row(p), _same) for p in products],
        )
        await conn.executemany(
            insert_sql("provenance", PROVENANCE, _marks(PROVENANCE)),
            [row_values(PROVENANCE, provenance_row(p), _same) for p in products],
        )
    if outbox := plan.outbox:
        now = _now()
        await conn.executemany(
            "INSERT INTO outbox (event_id, event_type, channel, subtopic, key, envelope, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            [
                (o.event_id, o.event_type, o.channel, o.subtopic, o.key, o.envelope, now)
                for o in outbox
            ],
        )
        await conn.executemany(
            "INSERT INTO outbox_deliveries (event_id, sink) VALUES (?, ?)",
            [(o.event_id, s) for o in outbox for s in o.sinks],
        )
    if plan.ledger:
        await conn.executemany(
            "INSERT INTO processed (source, event_id, event_type, status, transport, "
            "product_ids, finished_at, digest) VALUES (?,?,?,?,?,?,?,?)",
            plan.ledger,
        )
    if plan.inbox_done:
        await conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in plan.inbox_done])
    if products:
        await _supersede(conn, products)
    if plan.wait_updates:
        await conn.executemany(
            "UPDATE waits SET status = ?, finished_at = ?, detail = ? WHERE id = ?",
            plan.wait_updates,
        )
    if plan.resolves:
        await conn.executemany(
            "UPDATE waits SET status = 'ready', resolved_by = ? "
            "WHERE status = 'pending' AND kind = ? AND key = ?",
            plan.resolves,
        )
    if plan.waits:
        await conn.executemany(
            insert_sql("waits", (*WAIT, "status"), [*_marks(WAIT), "'pending'"]),
            [row_values(WAIT, w, _same) for w in plan.waits],
        )
        await _wake_new_waits(conn, plan.waits)


async def _dead_letter(conn: aiosqlite.Connection, d: DeadLetterRecord) -> int | None:
    sql = insert_sql("dead_letters", DEAD_LETTER, _marks(DEAD_LETTER))
    cur = await conn.execute(
        sql.replace("INSERT", "INSERT OR IGNORE", 1) + " RETURNING id",
        row_values(DEAD_LETTER, dead_letter_row(d), _same),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def _wake_new_waits(conn: aiosqlite.Connection, waits: list[dict[str, Any]]) -> None:
    """A wait for a product that was committed while its handler was still looking (after
    its `since`) is ready at once: no lost wake-up between the look and the commit."""
    for w, product in waits_to_wake(waits):
        row = await fetch_one(
            conn,
            "SELECT id FROM products WHERE product_type = ? AND tel_id IS ? "
            "AND created_at >= ? AND status = 'valid' ORDER BY created_at DESC LIMIT 1",
            (*product, w["since"]),
        )
        if row is not None:
            await conn.execute(
                "UPDATE waits SET status = 'ready', resolved_by = ? WHERE status = 'pending' "
                "AND kind = ? AND key = ? AND event_id = ? AND event_source = ?",
                (woken_by(row["id"]), w["kind"], w["key"], w["event_id"], w["event_source"]),
            )


async def _supersede(conn: aiosqlite.Connection, new: list[ProductRecord]) -> None:
    """Apply what new products replace (calibd.store.columns: by_category, outright,
    truncations), one statement each kind for the whole group."""
    for lower, products in by_category(new):
        await conn.executemany(
            "UPDATE products SET status = 'superseded', superseded_by = ? "
            "WHERE product_type = ? AND tel_id IS ? AND status = 'valid' "
            f"AND valid_from = ? AND category IN {sql_list(lower)} AND id != ?",
            [(p.id, p.product_type, p.tel_id, p.valid_from, p.id) for p in products],
        )
    if replaced := outright(new):
        await conn.executemany(
            "UPDATE products SET status = 'superseded', superseded_by = ? "
            "WHERE id = ? AND status = 'valid'",
            replaced,
        )
    if cut := truncations(new):
        await conn.executemany(
            "UPDATE products SET valid_to = ? WHERE id = ? "
            "AND (valid_to IS NULL OR valid_to > ?) AND valid_from < ?",
            [(start, old, start, start) for start, old in cut],
        )


async def _open_waits(conn: aiosqlite.Connection, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = await fetch_all(
        conn,
        f"SELECT id FROM waits WHERE id IN ({marks}) AND status IN ('pending', 'ready')",
        ids,
    )
    return {r[0] for r in rows}


async def existing_keys(
    conn: aiosqlite.Connection,
    keys: Iterable[tuple[str, str]],
    completing_waits: Sequence[int] = (),
) -> dict[tuple[str, str], str | None]:
    """Keys already completed, or with a parked retry (other than `completing_waits`),
    with the content digest recorded for them (None: not known)."""
    keys = list(keys)
    skip = ",".join(str(int(i)) for i in completing_waits) or "-1"
    found: dict[tuple[str, str], str | None] = {}
    for i in range(0, len(keys), 400):
        chunk = keys[i : i + 400]
        where = " OR ".join(["(source = ? AND event_id = ?)"] * len(chunk))
        params = [v for k in chunk for v in k]
        rows = await fetch_all(
            conn, f"SELECT source, event_id, digest FROM processed WHERE {where}", params
        )
        found.update(((r[0], r[1]), r[2]) for r in rows)
        retry_where = where.replace("source = ?", "event_source = ?")
        rows = await fetch_all(
            conn,
            "SELECT event_source, event_id FROM waits WHERE kind = 'retry' "
            f"AND status IN ('pending', 'ready') AND id NOT IN ({skip}) AND ({retry_where})",
            params,
        )  # a message whose retry is parked is not processed again meanwhile
        for r in rows:
            found.setdefault((r[0], r[1]), None)
    return found
