"""`calibd db copy`: an embedded SQLite CalibPipe database into an empty PostgreSQL one, every
table with its history, verified by row counts and checksums.

The source must be at this calibd's schema (`calibd db migrate` it first); the target is
migrated on open and must hold no rows. Tables are copied in foreign-key order with COPY (one
statement per table, so a product superseded by a later one is no problem), values converted
to the target's column types (times parsed into timestamptz); identity sequences are set past
the copied ids. Each table's checksum is sha256 over its rows in primary-key order, every value
in one normal form (times as calibd's stored text, blobs as hex), computed on both sides.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from calibd.errors import ConfigurationError
from calibd.store.times import format_time, parse_time

__all__ = ["TABLES", "TableCopy", "copy_sqlite_to_postgres"]

#: every table, parents before the tables that refer to them
TABLES = (
    "processed",
    "inbox",
    "config_versions",
    "products",
    "provenance",
    "outbox",
    "outbox_deliveries",
    "dead_letters",
    "waits",
    "leases",
)


@dataclass(frozen=True)
class TableCopy:
    """What became of one table: rows on each side and whether their checksums agree."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sha256 == self.target_sha256


def _to_target(kind: str) -> Callable[[Any], Any]:
    if kind.startswith("timestamp"):
        return lambda v: v if isinstance(v, datetime) else parse_time(str(v))
    if kind == "bytea":
        return lambda v: v.encode() if isinstance(v, str) else bytes(v)
    if kind in ("bigint", "integer", "smallint"):
        return int
    if kind == "boolean":
        return bool
    if kind == "double precision":
        return float
    return lambda v: v if isinstance(v, str) else str(v)


def _normal(kind: str) -> Callable[[Any], Any]:
    """One form of a value on either side, for the checksum."""
    if kind.startswith("timestamp"):
        return lambda v: format_time(v if isinstance(v, datetime) else parse_time(str(v)))
    if kind == "bytea":
        return lambda v: (v.encode() if isinstance(v, str) else bytes(v)).hex()
    return _to_target(kind)


def _checksum(rows: Iterable[Iterable[Any]], normal: list[Callable[[Any], Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        values = [None if v is None else f(v) for f, v in zip(normal, row, strict=True)]
        h.update(json.dumps(values, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


async def _layout(conn: Any, table: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """(columns, their types, primary-key columns, identity columns) of a target table."""
    rows = await conn.fetch(
        "SELECT column_name, data_type, is_identity FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    keys = await conn.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey, a.attnum)",
        table,
    )
    identity = [r["column_name"] for r in rows if r["is_identity"] == "YES"]
    return (
        [r["column_name"] for r in rows],
        [r["data_type"] for r in rows],
        [k["attname"] for k in keys],
        identity,
    )


def _source_rows(path: Path, table: str, columns: list[str], keys: list[str]) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        missing = [c for c in columns if c not in have]
        if missing:
            raise ConfigurationError(f"{path}: table {table} lacks columns {missing}")
        sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(keys)}"
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def copy_sqlite_to_postgres(source: Path, target: Any) -> list[TableCopy]:
    """Copy every table of the SQLite database `source` into the open, empty PostgreSQL
    store `target` (a PostgresStore); what each table became."""
    pool = target.pool
    async with pool.acquire() as conn:
        for table in TABLES:
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                raise ConfigurationError(
                    f"the target database is not empty (table {table} has rows): "
                    "db copy fills a new database only"
                )
        try:
            return await _copy_all(conn, source)
        except _Mismatch as mismatch:  # rolled back
            return mismatch.tables


async def _copy_all(conn: Any, source: Path) -> list[TableCopy]:
    """Every table in one transaction, verified; _Mismatch (rolled back) when one differs."""
    out = []
    async with conn.transaction():
        for table in TABLES:
            columns, kinds, keys, identity = await _layout(conn, table)
            rows = await asyncio.to_thread(_source_rows, source, table, columns, keys)
            convert = [_to_target(k) for k in kinds]
            records = [
                tuple(None if v is None else f(v) for f, v in zip(convert, r, strict=True))
                for r in rows
            ]
            if records:
                await conn.copy_records_to_table(table, records=records, columns=columns)
            for column in identity:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {table}"
                )
            normal = [_normal(k) for k in kinds]
            copied = await conn.fetch(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(keys)}"
            )
            out.append(
                TableCopy(
                    table,
                    len(rows),
                    len(copied),
                    _checksum(rows, normal),
                    _checksum((tuple(r) for r in copied), normal),
                )
            )
        if not all(t.ok for t in out):
            raise _Mismatch(out)
    return out


class _Mismatch(Exception):
    """Raised inside the transaction so that a copy that does not verify is rolled back."""

    def __init__(self, tables: list[TableCopy]) -> None:
        super().__init__("the copy does not verify")
        self.tables = tables
