"""The group commit on PostgreSQL: calibd.store.plan decides, this writes, in one transaction.

The processed ledger is claimed first, atomically (INSERT ... ON CONFLICT DO NOTHING
RETURNING): when another instance committed one of the keys after this transaction looked,
fewer rows come back, and the transaction is rolled back and run again (`ClaimLost`), so two
instances never both write a product for the same input. Keys are claimed in one order
(sorted), so two group commits claiming the same keys wait for each other, never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import asyncpg

from calibd.store import columns as col
from calibd.store.plan import CommitPlan, plan_commit, waits_to_wake, woken_by
from calibd.store.postgres.connection import ClaimLost
from calibd.store.records import Completion, DeadLetterRecord, ProductRecord
from calibd.store.sql import sql_list
from calibd.store.times import now_text, parse_time

__all__ = ["commit", "existing_keys", "ts"]

Key = tuple[str, str]


def ts(value: Any) -> Any:
    """A stored time (text) as the datetime of a timestamptz parameter."""
    return parse_time(value) if isinstance(value, str) else value


def _marks(n: int, first: int = 1) -> list[str]:
    return [f"${i}" for i in range(first, first + n)]


async def commit(conn: asyncpg.Connection, items: Sequence[Completion]) -> None:
    waits = [c.wait_id for c in items if c.wait_id]
    existing = await existing_keys(conn, [c.key for c in items if c.key], waits)
    open_waits = (
        [
            r[0]
            for r in await conn.fetch(
                "SELECT id FROM waits WHERE id = ANY($1::bigint[]) "
                "AND status IN ('pending', 'ready') FOR UPDATE",
                waits,
            )
        ]
        if waits
        else []
    )
    plan = await plan_commit(items, existing, open_waits, now_text(), partial(_dead_letter, conn))
    await _claim(conn, plan)
    await _write_plan(conn, plan)


async def _claim(conn: asyncpg.Connection, plan: CommitPlan) -> None:
    if not plan.ledger:
        return
    columns = list(zip(*plan.ledger, strict=True))
    columns[6] = tuple(ts(t) for t in columns[6])
    claimed = await conn.fetch(
        "INSERT INTO processed (source, event_id, event_type, status, transport, product_ids, "
        "finished_at, digest) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
        "$4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[]) AS k "
        "ORDER BY 1, 2 ON CONFLICT DO NOTHING RETURNING source",  # one lock order: no deadlock
        *columns,
    )
    if len(claimed) != len(plan.ledger):
        raise ClaimLost


async def _write_plan(conn: asyncpg.Connection, plan: CommitPlan) -> None:
    if products := plan.products:
        await conn.executemany(
            col.insert_sql("products", col.PRODUCT, _marks(len(col.PRODUCT))),
            [col.row_values(col.PRODUCT, col.product_row(p), ts) for p in products],
        )
        await conn.executemany(
            col.insert_sql("provenance", col.PROVENANCE, _marks(len(col.PROVENANCE))),
            [col.row_values(col.PROVENANCE, col.provenance_row(p), ts) for p in products],
        )
    if outbox := plan.outbox:
        await conn.executemany(
            "INSERT INTO outbox (event_id, event_type, channel, subtopic, key, envelope, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, now())",
            [(o.event_id, o.event_type, o.channel, o.subtopic, o.key, o.envelope) for o in outbox],
        )
        await conn.execute(
            "INSERT INTO outbox_deliveries (event_id, sink) "
            "SELECT * FROM unnest($1::text[], $2::text[])",
            [o.event_id for o in outbox for _ in o.sinks],
            [s for o in outbox for s in o.sinks],
        )
    if plan.inbox_done:
        await conn.execute("DELETE FROM inbox WHERE id = ANY($1::bigint[])", plan.inbox_done)
    if products:
        await _supersede(conn, products)
    if plan.wait_updates:
        await conn.executemany(
            "UPDATE waits SET status = $1, finished_at = $2, detail = $3 WHERE id = $4",
            [(s, ts(at), d, i) for s, at, d, i in plan.wait_updates],
        )
    if plan.resolves:
        await conn.executemany(
            "UPDATE waits SET status = 'ready', resolved_by = $1 "
            "WHERE status = 'pending' AND kind = $2 AND key = $3",
            plan.resolves,
        )
    if plan.waits:
        await conn.executemany(
            col.insert_sql("waits", (*col.WAIT, "status"), [*_marks(len(col.WAIT)), "'pending'"]),
            [col.row_values(col.WAIT, w, ts) for w in plan.waits],
        )
        await _wake(conn, plan.waits)


async def _dead_letter(conn: asyncpg.Connection, d: DeadLetterRecord) -> int | None:
    sql = col.insert_sql("dead_letters", col.DEAD_LETTER, _marks(len(col.DEAD_LETTER)))
    return await conn.fetchval(
        sql + " ON CONFLICT (origin_key) DO NOTHING RETURNING id",
        *col.row_values(col.DEAD_LETTER, col.dead_letter_row(d), ts),
    )


async def _wake(conn: asyncpg.Connection, waits: list[dict[str, Any]]) -> None:
    """New waits for a product committed since their handler looked: ready at once."""
    for w, (product_type, tel_id) in waits_to_wake(waits):
        found = await conn.fetchval(
            "SELECT id FROM products WHERE product_type = $1 AND tel_id IS NOT DISTINCT FROM $2 "
            "AND created_at >= $3 AND status = 'valid' ORDER BY created_at DESC LIMIT 1",
            product_type,
            tel_id,
            ts(w["since"]),
        )
        if found is not None:
            await conn.execute(
                "UPDATE waits SET status = 'ready', resolved_by = $1 WHERE status = 'pending' "
                "AND kind = $2 AND key = $3 AND event_id = $4 AND event_source = $5",
                woken_by(found),
                *(w[k] for k in ("kind", "key", "event_id", "event_source")),
            )


async def _supersede(conn: asyncpg.Connection, new: list[ProductRecord]) -> None:
    """What the new products replace (calibd.store.columns), one statement each kind."""
    for lower, products in col.by_category(new):
        await conn.executemany(
            "UPDATE products SET status = 'superseded', superseded_by = $1 "
            "WHERE product_type = $2 AND tel_id IS NOT DISTINCT FROM $3 AND status = 'valid' "
            f"AND valid_from = $4 AND category IN {sql_list(lower)} AND id <> $1",
            [(p.id, p.product_type, p.tel_id, ts(p.valid_from)) for p in products],
        )
    if replaced := col.outright(new):
        await conn.execute(
            "UPDATE products p SET status = 'superseded', superseded_by = r.new "
            "FROM unnest($1::text[], $2::text[]) AS r(new, old) "
            "WHERE p.id = r.old AND p.status = 'valid'",
            *zip(*replaced, strict=True),
        )
    for start, old in col.truncations(new):
        await conn.execute(
            "UPDATE products SET valid_to = $1 WHERE id = $2 "
            "AND (valid_to IS NULL OR valid_to > $1) AND valid_from < $1",
            ts(start),
            old,
        )


async def existing_keys(
    conn: asyncpg.Connection | asyncpg.Pool,
    keys: Iterable[Key],
    completing_waits: Sequence[int] = (),
) -> dict[Key, str | None]:
    """Keys already completed, or with a parked retry (other than `completing_waits`), with
    the content digest recorded for them (None: not known); one query for any number."""
    keys = list(keys)
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT p.source, p.event_id, p.digest, true AS done FROM processed p "
        "JOIN unnest($1::text[], $2::text[]) AS k(s, e) ON p.source = k.s AND p.event_id = k.e "
        "UNION ALL SELECT w.event_source, w.event_id, NULL, false FROM waits w "
        "JOIN unnest($1::text[], $2::text[]) AS k(s, e) "
        "ON w.event_source = k.s AND w.event_id = k.e WHERE w.kind = 'retry' "
        "AND w.status IN ('pending', 'ready') AND NOT (w.id = ANY($3::bigint[]))",
        [k[0] for k in keys],
        [k[1] for k in keys],
        list(completing_waits),
    )
    found: dict[Key, str | None] = {(r[0], r[1]): r[2] for r in rows if r["done"]}
    for r in rows:
        found.setdefault((r[0], r[1]), None)
    return found
