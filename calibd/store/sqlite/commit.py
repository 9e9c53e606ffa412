"""The group commit: each message's ledger row, products, provenance, outbox rows, dead letter
and waits are written in the caller's transaction, together or not at all."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

from calibd.store.plan import plan_commit
from calibd.store.records import Completion, DeadLetterRecord, ProductRecord
from calibd.store.rules import CATEGORIES, lower_categories, product_of_wait
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
    products, outbox, ledger = plan.products, plan.outbox, plan.ledger
    waits, resolves, wait_updates = plan.waits, plan.resolves, plan.wait_updates
    inbox_done = [(i,) for i in plan.inbox_done]
    if products:
        await conn.executemany(
            "INSERT INTO products (id, product_type, tel_id, category, valid_from, valid_to, "
            "created_at, input_source, input_event_id, algorithm, algorithm_version, "
            "config_hash, payload, summary, arrays, config_version) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    p.id,
                    p.product_type,
                    p.tel_id,
                    p.category,
                    p.valid_from,
                    p.valid_to,
                    p.created_at,
                    p.input_source,
                    p.input_event_id,
                    p.algorithm,
                    p.algorithm_version,
                    p.config_hash,
                    p.payload,
                    p.summary,
                    p.arrays,
                    p.config_version,
                )
                for p in products
            ],
        )
        await conn.executemany(
            "INSERT INTO provenance (product_id, input_message, input_transport, "
            "input_origin, input_files, algorithm, algorithm_version, handler, config, "
            "config_hash, software, host, started_at, finished_at) "
            "VALUES (:product_id, :input_message, :input_transport, :input_origin, "
            ":input_files, :algorithm, :algorithm_version, :handler, :config, :config_hash, "
            ":software, :host, :started_at, :finished_at)",
            [{"product_id": p.id, **p.provenance} for p in products],
        )
    if outbox:
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
    if ledger:
        await conn.executemany(
            "INSERT INTO processed (source, event_id, event_type, status, transport, "
            "product_ids, finished_at, digest) VALUES (?,?,?,?,?,?,?,?)",
            ledger,
        )
    if inbox_done:
        await conn.executemany("DELETE FROM inbox WHERE id = ?", inbox_done)
    if products:
        await _supersede(conn, products)
    if wait_updates:
        await conn.executemany(
            "UPDATE waits SET status = ?, finished_at = ?, detail = ? WHERE id = ?",
            wait_updates,
        )
    if resolves:
        await conn.executemany(
            "UPDATE waits SET status = 'ready', resolved_by = ? "
            "WHERE status = 'pending' AND kind = ? AND key = ?",
            resolves,
        )
    if waits:
        await conn.executemany(
            "INSERT INTO waits (handler, kind, key, status, deadline, created_at, "
            "event_source, event_id, input_message, input_transport, input_origin, state) "
            "VALUES (:handler, :kind, :key, 'pending', :deadline, :created_at, "
            ":event_source, :event_id, :input_message, :input_transport, :input_origin, "
            ":state)",
            waits,
        )
        await _wake_new_waits(conn, waits)


async def _dead_letter(conn: aiosqlite.Connection, d: DeadLetterRecord) -> int | None:
    cur = await conn.execute(
        "INSERT OR IGNORE INTO dead_letters (origin_key, transport, origin, "
        "received_at, event_id, event_type, event_source, reason, detail, payload, "
        "headers) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
        (
            d.origin_key,
            d.transport,
            d.origin,
            d.received_at,
            d.event_id,
            d.event_type,
            d.event_source,
            d.reason,
            d.detail,
            d.payload,
            d.headers,
        ),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def _wake_new_waits(conn: aiosqlite.Connection, waits: list[dict[str, Any]]) -> None:
    """A wait for a product that was committed while its handler was still looking (after
    its `since`) is ready at once: no lost wake-up between the look and the commit."""
    for w in waits:
        if not w.get("since") or (product := product_of_wait(w["kind"], w["key"])) is None:
            continue
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
                (
                    json.dumps({"product_id": row["id"]}),
                    w["kind"],
                    w["key"],
                    w["event_id"],
                    w["event_source"],
                ),
            )


async def _supersede(conn: aiosqlite.Connection, new: list[ProductRecord]) -> None:
    """Apply what new products replace (one statement each kind, for the whole group).

    - a product of a higher category supersedes the valid products of the same type and
      telescope with a lower category and the same validity start (a Cat-C product made by
      reprocessing supersedes the Cat-B one);
    - `supersedes`: these products are superseded outright;
    - `truncates`: these products stay valid only until the new product's validity start.
    """
    for category in reversed(CATEGORIES):  # (rules.supersedes_by_category)
        if not (lower := lower_categories(category)):
            continue
        below = sql_list(lower)
        rows = [
            (p.id, p.product_type, p.tel_id, p.valid_from, p.id)
            for p in new
            if p.category == category
        ]
        if rows:
            await conn.executemany(
                "UPDATE products SET status = 'superseded', superseded_by = ? "
                "WHERE product_type = ? AND tel_id IS ? AND status = 'valid' "
                f"AND valid_from = ? AND category IN {below} AND id != ?",
                rows,
            )
    outright = [(p.id, old) for p in new for old in p.supersedes]
    if outright:
        await conn.executemany(
            "UPDATE products SET status = 'superseded', superseded_by = ? "
            "WHERE id = ? AND status = 'valid'",
            outright,
        )
    cut = [(p.valid_from, old, p.valid_from, p.valid_from) for p in new for old in p.truncates]
    if cut:
        await conn.executemany(
            "UPDATE products SET valid_to = ? WHERE id = ? "
            "AND (valid_to IS NULL OR valid_to > ?) AND valid_from < ?",
            cut,
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
