"""asyncpg against psycopg 3 (async, with psycopg_pool) on calibd's typical store operations,
side by side on a private PostgreSQL cluster (tests.support.postgres):

- commit: one transaction of N product rows + N ledger rows + N outbox rows (the group commit);
- lookup: the processed ledger for 100 (source, id) keys in one query;
- query: the best product of a type and telescope valid at a time.

    .venv/bin/python -m bench.pg_driver [--rounds 200] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import psycopg_pool

from tests.support.postgres import PostgresCluster

SCHEMA = """
CREATE TABLE products (id text PRIMARY KEY, product_type text NOT NULL, tel_id integer,
    category text NOT NULL, valid_from timestamptz NOT NULL, status text NOT NULL DEFAULT 'valid',
    created_at timestamptz NOT NULL, payload text NOT NULL, arrays bytea);
CREATE INDEX products_valid ON products (product_type, tel_id, status, valid_from);
CREATE TABLE processed (source text, event_id text, status text NOT NULL,
    finished_at timestamptz NOT NULL, PRIMARY KEY (source, event_id));
CREATE TABLE outbox (seq bigserial PRIMARY KEY, event_id text UNIQUE, envelope bytea NOT NULL);
"""
PRODUCT = (
    "INSERT INTO products (id, product_type, tel_id, category, valid_from, created_at, payload,"
    " arrays) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
)
LEDGER = (
    "INSERT INTO processed (source, event_id, status, finished_at) "
    "SELECT s, e, 'done', now() FROM unnest($1::text[], $2::text[]) AS k(s, e) "
    "ON CONFLICT DO NOTHING RETURNING source, event_id"
)
OUTBOX = "INSERT INTO outbox (event_id, envelope) VALUES ($1, $2)"
LOOKUP = (
    "SELECT p.source, p.event_id FROM processed p "
    "JOIN unnest($1::text[], $2::text[]) AS k(s, e) ON p.source = k.s AND p.event_id = k.e"
)
BEST = (
    "SELECT id FROM products WHERE product_type = $1 AND tel_id = $2 AND status = 'valid' "
    "AND valid_from <= $3 ORDER BY valid_from DESC, created_at DESC LIMIT 1"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(round_: int, batch: int):
    ids = [f"r{round_}-{i}" for i in range(batch)]
    products = [
        (p, "camera_calibration", i % 4, "B", T0 + timedelta(minutes=round_), T0, "{}", b"x" * 2000)
        for i, p in enumerate(ids)
    ]
    return ids, products, [(f"n-{p}", b'{"id": 1}' * 20) for p in ids]


def _pg(sql: str) -> str:  # psycopg's placeholders
    for n in range(8, 0, -1):
        sql = sql.replace(f"${n}", "%s")
    return sql


async def asyncpg_ops(url: str, batch: int):
    pool = await asyncpg.create_pool(url, min_size=2, max_size=4)

    async def commit(r: int) -> None:
        ids, products, outbox = _rows(r, batch)
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetch(LEDGER, ["s"] * batch, ids)
            await conn.executemany(PRODUCT, products)
            await conn.executemany(OUTBOX, outbox)

    async def lookup(r: int) -> None:
        await pool.fetch(LOOKUP, ["s"] * 100, [f"r{r}-{i}" for i in range(100)])

    async def query(r: int) -> None:
        await pool.fetchrow(BEST, "camera_calibration", r % 4, T0 + timedelta(minutes=r))

    return pool.close, {"commit": commit, "lookup": lookup, "query": query}


async def psycopg_ops(url: str, batch: int):
    pool = psycopg_pool.AsyncConnectionPool(url, min_size=2, max_size=4, open=False)
    await pool.open()
    ledger, product, outbox_sql = _pg(LEDGER), _pg(PRODUCT), _pg(OUTBOX)

    async def commit(r: int) -> None:
        ids, products, outbox = _rows(r, batch)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(ledger, (["s"] * batch, ids))
            async with conn.cursor() as cur:
                await cur.executemany(product, products)
                await cur.executemany(outbox_sql, outbox)

    async def lookup(r: int) -> None:
        async with pool.connection() as conn:
            cur = await conn.execute(_pg(LOOKUP), (["s"] * 100, [f"r{r}-{i}" for i in range(100)]))
            await cur.fetchall()

    async def query(r: int) -> None:
        async with pool.connection() as conn:
            cur = await conn.execute(
                _pg(BEST), ("camera_calibration", r % 4, T0 + timedelta(minutes=r))
            )
            await cur.fetchone()

    return pool.close, {"commit": commit, "lookup": lookup, "query": query}


async def _time(fn: Callable[[int], Awaitable[None]], rounds: int) -> list[float]:
    out = []
    for r in range(rounds):
        t = time.perf_counter()
        await fn(r)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def main(rounds: int, batch: int) -> None:
    with PostgresCluster() as cluster:
        results: dict[str, dict[str, list[float]]] = {}
        for name, make in (("asyncpg", asyncpg_ops), ("psycopg", psycopg_ops)):
            db = cluster.create_database(name)
            cluster.psql(SCHEMA, db)
            close, ops = await make(cluster.url(db), batch)
            results[name] = {op: await _time(fn, rounds) for op, fn in ops.items()}
            await close()
        print(f"{rounds} rounds; commit = {batch} products + {batch} ledger + {batch} outbox rows")
        print(f"{'operation':<10}{'driver':<10}{'median ms':>10}{'p95 ms':>10}{'ops/s':>10}")
        for op in ("commit", "lookup", "query"):
            for name, ops in results.items():
                times = sorted(ops[op])
                med, p95 = statistics.median(times), times[int(len(times) * 0.95)]
                print(f"{op:<10}{name:<10}{med:>10.3f}{p95:>10.3f}{1000 / med:>10.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.batch))
