"""Reads of products and dead letters on PostgreSQL (listings as dicts with times in their
stored text form, as SQLite gives them), the reads of reprocessing, counts, and the release
of a dead letter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from calibd.errors import StoreError
from calibd.store.listing import ProductListing
from calibd.store.postgres.commit import ts
from calibd.store.postgres.connection import PostgresConnections
from calibd.store.records import InputProduct, ReleasedDeadLetter, ReprocessCandidate
from calibd.store.rows import input_product, released_dead_letter, reprocess_candidate
from calibd.store.rules import CATEGORIES, lower_categories
from calibd.store.sql import COUNTS, OVERDUE_WAITS, Params, sql_list
from calibd.store.times import format_time

__all__ = ["PostgresQueries", "listing"]


def listing(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the dict listings return: times as stored text, blobs as bytes."""
    return {k: format_time(v) if isinstance(v, datetime) else v for k, v in row.items()}


class PostgresQueries(ProductListing, PostgresConnections):
    """Product, dead-letter and reprocessing reads; counts; dead-letter release."""

    def _listing_params(self) -> Params:
        return Params(numbered=True)

    def _listing_time(self, when: Any) -> Any:
        return ts(when)

    async def _listing_rows(self, sql: str, params: Params) -> list[dict[str, Any]]:
        return [listing(r) for r in await self._fetch(sql, *params)]

    async def reprocess_candidates(
        self,
        start: datetime,
        end: datetime,
        product_types: list[str] | None = None,
        tel_ids: list[int] | None = None,
    ) -> list[ReprocessCandidate]:
        """Cat-A/B products (valid or superseded) whose validity starts in [start, end)."""
        p = Params(numbered=True)
        where = [
            f"category IN {sql_list(lower_categories(CATEGORIES[-1]))}",
            f"valid_from >= {p.add(start)} AND valid_from < {p.add(end)}",
        ]
        if product_types:
            where.append(f"product_type = ANY({p.add(list(product_types))}::text[])")
        if tel_ids:
            where.append(f"tel_id = ANY({p.add(list(tel_ids))}::integer[])")
        rows = await self._fetch(
            "SELECT id, product_type, tel_id, category, valid_from, input_source, input_event_id "
            f"FROM products WHERE {' AND '.join(where)} ORDER BY created_at",
            *p,
        )
        return [reprocess_candidate(r) for r in rows]

    async def products_of_input(self, source: str, event_id: str) -> list[InputProduct]:
        rows = await self._fetch(
            "SELECT id, product_type, tel_id, category, status FROM products "
            "WHERE input_source = $1 AND input_event_id = $2 ORDER BY created_at",
            source,
            event_id,
        )
        return [input_product(r) for r in rows]

    async def dead_letters(self, limit: int = 100, reason: str | None = None) -> list[dict]:
        rows = await self._fetch(
            "SELECT * FROM dead_letters WHERE ($1::text IS NULL OR reason = $1) "
            "ORDER BY id DESC LIMIT $2",
            reason,
            limit,
        )
        return [listing(r) for r in rows]

    async def release_dead_letter(self, dead_letter_id: int) -> ReleasedDeadLetter:
        """Mark a dead letter retried and forget its ledger entry, so it can run again.
        Raises StoreError if there is no such dead letter or it was retried already."""

        async def run(conn: asyncpg.Connection) -> ReleasedDeadLetter:
            row = await conn.fetchrow(
                "SELECT * FROM dead_letters WHERE id = $1 FOR UPDATE", dead_letter_id
            )
            if row is None:
                raise StoreError(f"no dead letter {dead_letter_id}")
            if row["status"] != "dead":
                raise StoreError(f"dead letter {dead_letter_id} was retried already")
            await conn.execute(
                "UPDATE dead_letters SET status = 'retried', retried_at = now() WHERE id = $1",
                dead_letter_id,
            )
            if row["event_id"] is not None and row["event_source"] is not None:
                await conn.execute(
                    "DELETE FROM processed WHERE source = $1 AND event_id = $2 AND status = 'dead'",
                    row["event_source"],
                    row["event_id"],
                )
            return released_dead_letter(row)

        return await self._write(run)

    async def counts(self) -> dict[str, int]:
        """Row counts an operator wants to see."""
        out = {name: await self._fetchval(sql) for name, sql in COUNTS.items()}
        out["waits_overdue"] = await self._fetchval(OVERDUE_WAITS % {"now": "now()"})
        return out
