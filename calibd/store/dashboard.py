"""The dashboard's reads of every backend: a filtered, offset page of products, products per
type and telescope, the products one superseded, and the instances holding claims. Plain,
bounded SQL written once over the backend's placeholders, time parameters and row reading
(the hooks of `listing`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from calibd.store.listing import ProductListing
from calibd.store.rules import INBOX_LEASE_PREFIX
from calibd.store.sql import LISTED, listing_order, product_filters

__all__ = ["DashboardReads"]


class DashboardReads(ProductListing):
    """Mixed into a backend's store beside `ProductListing` (whose hooks it uses)."""

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
        p = self._listing_params()
        where = product_filters(
            p,
            self._listing_time,
            product_type=product_type,
            tel_id=tel_id,
            category=category,
            since=since,
            until=until,
            at=at,
        )
        if not include_superseded:
            where.append("status = 'valid'")
        order = listing_order(at, newest="created_at DESC, id DESC")
        sql = (
            f"SELECT {LISTED} FROM products"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {order} LIMIT {p.add(limit)} OFFSET {p.add(offset)}"
        )
        rows = await self._listing_rows(sql, p)
        return [{**r, "summary": json.loads(r["summary"])} for r in rows]

    async def product_counts(self) -> list[dict[str, Any]]:
        """Products per (type, telescope, status): their number and latest validity start."""
        return await self._listing_rows(
            "SELECT product_type, tel_id, status, COUNT(*) AS n, MAX(valid_from) AS latest "
            "FROM products GROUP BY product_type, tel_id, status "
            "ORDER BY product_type, tel_id, status",
            self._listing_params(),
        )

    async def superseded_products(self, product_id: str) -> list[dict[str, Any]]:
        """The products `product_id` superseded (at most 100, oldest first)."""
        p = self._listing_params()
        return await self._listing_rows(
            "SELECT id, product_type, tel_id, category, valid_from FROM products "
            f"WHERE superseded_by = {p.add(product_id)} ORDER BY created_at LIMIT 100",
            p,
        )

    async def claims(self) -> list[dict[str, Any]]:
        """The instances holding claims on open rows (outbox deliveries, waits, inbox rows by
        owner until its inbox lease ends) and leases: holder, what, how many rows and until
        when (the latest), by holder."""
        return await self._listing_rows(CLAIMS, self._listing_params())


CLAIMS = (
    "SELECT claimed_by AS holder, 'outbox' AS what, COUNT(*) AS n, "
    "MAX(claimed_until) AS until FROM outbox_deliveries "
    "WHERE claimed_by IS NOT NULL AND delivered_at IS NULL AND failed_at IS NULL "
    "GROUP BY claimed_by "
    "UNION ALL SELECT claimed_by, 'waits', COUNT(*), MAX(claimed_until) FROM waits "
    "WHERE claimed_by IS NOT NULL AND status IN ('pending', 'ready') GROUP BY claimed_by "
    "UNION ALL SELECT holder, 'lease ' || name, 1, until FROM leases "
    "UNION ALL SELECT i.owner, 'inbox', COUNT(*), COALESCE(MAX(l.until), MIN(i.received_at)) "
    f"FROM inbox i LEFT JOIN leases l ON l.name = '{INBOX_LEASE_PREFIX}' || i.owner "
    "WHERE i.owner IS NOT NULL GROUP BY i.owner "
    "ORDER BY 1, 2"
)
