"""The dashboard's reads: a filtered, offset page of products, products per type and
telescope, and the products one superseded. Plain, bounded SQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from calibd.store.sqlite.connection import SqliteConnections
from calibd.store.sqlite.queries import CATEGORY_RANK
from calibd.store.sqlite.reads import fetch_all
from calibd.store.times import format_time

__all__ = ["SqliteDashboardReads"]

LISTED = (
    "id, product_type, tel_id, category, valid_from, valid_to, status, superseded_by, "
    "created_at, input_source, input_event_id, algorithm, algorithm_version, config_hash, "
    "config_version, summary"
)


class SqliteDashboardReads(SqliteConnections):
    async def product_page(
        self,
        *,
        product_type: str | None = None,
        tel_id: int | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        at: datetime | None = None,
        include_superseded: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Products as `products` lists them, filtered, from `offset`; newest first, or best
        first when `at` is given."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("product_type", product_type),
            ("tel_id", tel_id),
            ("category", category),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("valid_from >= ?")
            params.append(format_time(since))
        if until is not None:
            where.append("valid_from < ?")
            params.append(format_time(until))
        if at is not None:
            t = format_time(at)
            where.append("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)")
            params += [t, t]
        if not include_superseded:
            where.append("status = 'valid'")
        order = (
            f"{CATEGORY_RANK} DESC, valid_from DESC, created_at DESC"
            if at is not None
            else "created_at DESC, id DESC"
        )
        sql = (
            f"SELECT {LISTED} FROM products"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {order} LIMIT ? OFFSET ?"
        )
        rows = await fetch_all(self.r, sql, [*params, limit, offset])
        return [{**dict(r), "summary": json.loads(r["summary"])} for r in rows]

    async def product_counts(self) -> list[dict[str, Any]]:
        rows = await fetch_all(
            self.r,
            "SELECT product_type, tel_id, status, COUNT(*) AS n, MAX(valid_from) AS latest "
            "FROM products GROUP BY product_type, tel_id, status "
            "ORDER BY product_type, tel_id, status",
        )
        return [dict(r) for r in rows]

    async def superseded_products(self, product_id: str) -> list[dict[str, Any]]:
        rows = await fetch_all(
            self.r,
            "SELECT id, product_type, tel_id, category, valid_from FROM products "
            "WHERE superseded_by = ? ORDER BY created_at LIMIT 100",
            (product_id,),
        )
        return [dict(r) for r in rows]
