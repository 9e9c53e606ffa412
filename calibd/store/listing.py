"""The product listing of every backend (ReadStore.best_product and .products), written once
over the backend's placeholders, time parameters and row reading."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from calibd.store.sql import Params, products_query

__all__ = ["ProductListing"]


class ProductListing:
    """Mixed into a backend's store, which provides `_listing_params`, `_listing_time` and
    `_listing_rows`."""

    def _listing_params(self) -> Params:
        raise NotImplementedError

    def _listing_time(self, when: Any) -> Any:
        """A datetime or stored time as this backend's time parameter."""
        raise NotImplementedError

    async def _listing_rows(self, sql: str, params: Params) -> list[dict[str, Any]]:
        """The rows of a query as dicts, times in their stored text form."""
        raise NotImplementedError

    async def best_product(
        self, product_type: str, tel_id: int | None, at: datetime
    ) -> dict[str, Any] | None:
        """The product of `product_type` for `tel_id` valid at `at`: Cat-C before Cat-B before
        Cat-A, then the latest validity start, then the newest."""
        rows = await self.products(product_type=product_type, tel_id=tel_id, at=at, limit=1)
        return rows[0] if rows else None

    async def products(
        self,
        *,
        product_type: str | None = None,
        tel_id: int | None = None,
        at: datetime | None = None,
        include_superseded: bool = False,
        limit: int = 100,
        as_of: str | None = None,
    ) -> list[dict[str, Any]]:
        """Product metadata (no arrays), best first when `at` is given, else newest first.

        `as_of` (a stored time) answers as the database stood then: only products created
        before it, and superseded only by products created before it (for reproduction).
        """
        params = self._listing_params()
        sql = products_query(
            params,
            self._listing_time,
            product_type=product_type,
            tel_id=tel_id,
            at=at,
            include_superseded=include_superseded,
            limit=limit,
            as_of=as_of,
        )
        rows = await self._listing_rows(sql, params)
        return [{**r, "summary": json.loads(r["summary"])} for r in rows]

    async def product(self, product_id: str) -> dict[str, Any] | None:
        """One product with payload, arrays blob and provenance; `product_id` may be a prefix
        (of one product only: None when it is ambiguous or unknown)."""
        p = self._listing_params()
        prefix = product_id.replace("\\", "").replace("%", "").replace("_", "\\_") + "%"
        sql = (
            f"SELECT * FROM products WHERE id = {p.add(product_id)} "
            f"OR id LIKE {p.add(prefix)} ESCAPE '\\' "
            f"ORDER BY id = {p.add(product_id)} DESC LIMIT 2"
        )
        rows = await self._listing_rows(sql, p)
        if not rows or (len(rows) > 1 and rows[0]["id"] != product_id):
            return None
        prod = rows[0]
        q = self._listing_params()
        prov = await self._listing_rows(
            f"SELECT * FROM provenance WHERE product_id = {q.add(prod['id'])}", q
        )
        prod["payload"] = json.loads(prod["payload"])
        prod["summary"] = json.loads(prod["summary"])
        prod["provenance"] = prov[0] if prov else None
        return prod
