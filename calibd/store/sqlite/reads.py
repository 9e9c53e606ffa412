"""Reads on a connection shared by many coroutines: each query run and read whole at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from calibd.store.sqlite.errors import translated

__all__ = ["fetch_all", "fetch_one"]


async def fetch_all(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[aiosqlite.Row]:
    """Run a query and read all its rows in ONE call on the connection's thread.

    The statement is stepped to its end before any other coroutine's statement can run on the
    same connection, so its read transaction ends with it: every query sees the database as
    committed when it starts. (With `async with conn.execute(...)`, another coroutine's query
    slipped in between execute and fetch shares the open statement's older snapshot, and the
    outbox relay saw rows it had just marked delivered as pending: duplicate notifications.)
    """
    with translated():
        return list(await conn.execute_fetchall(sql, params))


async def fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> aiosqlite.Row | None:
    """The first row of a query run as in `fetch_all` (use with LIMIT or a unique key)."""
    rows = await fetch_all(conn, sql, params)
    return rows[0] if rows else None
