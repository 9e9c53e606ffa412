"""Reads of products and dead letters (listings as dicts, as the CLI prints them), the reads
of reprocessing, row counts, and the release of a dead letter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from calibd.errors import StoreError
from calibd.store.listing import ProductListing
from calibd.store.records import InputProduct, ReleasedDeadLetter, ReprocessCandidate
from calibd.store.rows import input_product, released_dead_letter, reprocess_candidate
from calibd.store.rules import CATEGORIES, lower_categories
from calibd.store.sql import COUNTS, OVERDUE_WAITS, Params, sql_list
from calibd.store.sqlite.connection import SqliteConnections
from calibd.store.sqlite.reads import fetch_all, fetch_one
from calibd.store.times import format_time
from calibd.store.times import now_text as _now

__all__ = ["SqliteQueries"]


class SqliteQueries(ProductListing, SqliteConnections):
    """Product, dead-letter and reprocessing reads; counts; dead-letter release."""

    def _listing_params(self) -> Params:
        return Params()

    def _listing_time(self, when: Any) -> Any:
        return when if isinstance(when, str) else format_time(when)

    async def _listing_rows(self, sql: str, params: Params) -> list[dict[str, Any]]:
        return [dict(r) for r in await fetch_all(self.r, sql, params)]

    async def reprocess_candidates(
        self,
        start: datetime,
        end: datetime,
        product_types: list[str] | None = None,
        tel_ids: list[int] | None = None,
    ) -> list[ReprocessCandidate]:
        """Cat-A/B products (valid or superseded) whose validity starts in [start, end),
        oldest made first."""
        below = sql_list(lower_categories(CATEGORIES[-1]))
        where = [f"category IN {below}", "valid_from >= ?", "valid_from < ?"]
        params: list[Any] = [format_time(start), format_time(end)]
        for column, values in (("product_type", product_types), ("tel_id", tel_ids)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params += list(values)
        rows = await fetch_all(
            self.r,
            "SELECT id, product_type, tel_id, category, valid_from, input_source, input_event_id "
            f"FROM products WHERE {' AND '.join(where)} ORDER BY created_at",
            params,
        )
        return [reprocess_candidate(r) for r in rows]

    async def products_of_input(self, source: str, event_id: str) -> list[InputProduct]:
        """The products made from the event (source, event_id), oldest first."""
        rows = await fetch_all(
            self.r,
            "SELECT id, product_type, tel_id, category, status FROM products "
            "WHERE input_source = ? AND input_event_id = ? ORDER BY created_at",
            (source, event_id),
        )
        return [input_product(r) for r in rows]

    async def dead_letters(self, limit: int = 100, reason: str | None = None) -> list[dict]:
        sql = "SELECT * FROM dead_letters" + (" WHERE reason = ?" if reason else "")
        rows = await fetch_all(
            self.r, sql + " ORDER BY id DESC LIMIT ?", ([reason] if reason else []) + [limit]
        )
        return [dict(r) for r in rows]

    async def release_dead_letter(self, dead_letter_id: int) -> ReleasedDeadLetter:
        """Mark a dead letter retried and forget its ledger entry, so it can run again.
        Raises StoreError if there is no such dead letter or it was retried already."""

        async def run(conn: aiosqlite.Connection) -> ReleasedDeadLetter:
            row = await fetch_one(
                conn, "SELECT * FROM dead_letters WHERE id = ?", (dead_letter_id,)
            )
            if row is None:
                raise StoreError(f"no dead letter {dead_letter_id}")
            if row["status"] != "dead":
                raise StoreError(f"dead letter {dead_letter_id} was retried already")
            await conn.execute(
                "UPDATE dead_letters SET status = 'retried', retried_at = ? WHERE id = ?",
                (_now(), dead_letter_id),
            )
            if row["event_id"] is not None and row["event_source"] is not None:
                await conn.execute(
                    "DELETE FROM processed WHERE source = ? AND event_id = ? AND status = 'dead'",
                    (row["event_source"], row["event_id"]),
                )
            return released_dead_letter(row)

        return await self._write(run)

    async def counts(self) -> dict[str, int]:
        """Row counts an operator wants to see."""
        out = {}
        for name, sql in COUNTS.items():
            out[name] = (await fetch_one(self.r, sql))[0]  # type: ignore[index]
        overdue = await fetch_one(self.r, OVERDUE_WAITS.replace("%(now)s", "?"), (_now(),))
        out["waits_overdue"] = overdue[0]  # type: ignore[index]
        return out
