"""The PostgreSQL backend of the store, for several calibd instances on one database.

Driver: asyncpg (with its own pool). bench/pg_driver.py measured it against psycopg 3 (async,
psycopg_pool) on calibd's operations on the private test cluster: the group commit of 50
products + 50 ledger rows + 50 outbox rows, a ledger lookup of 100 keys, a product query.
Both were within a few percent of each other (commit 2.5-3.3 ms, lookup 0.4-0.7 ms, query
0.5-1.0 ms median); asyncpg's lookups were faster and steadier (p95 0.7-1.0 ms against
1.4-2.4 ms), it needs one package for driver and pool, and its exceptions carry the SQLSTATE
as classes (`calibd.store.postgres.errors`), so asyncpg it is.
"""

from calibd.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
