"""SQL both backends run as it is: the category rank, trusted literal lists, the counts."""

from __future__ import annotations

from collections.abc import Iterable

from calibd.store.rules import CATEGORIES, category_rank

__all__ = ["CATEGORY_RANK", "COUNTS", "sql_list"]

CATEGORY_RANK = (  # rules.category_rank in SQL
    "CASE category "
    + " ".join(f"WHEN '{c}' THEN {category_rank(c)}" for c in reversed(CATEGORIES[1:]))
    + " ELSE 1 END"
)


def sql_list(values: Iterable[str]) -> str:
    """An SQL list of (trusted) text literals: ('A', 'B')."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


COUNTS = {
    "products": "SELECT COUNT(*) FROM products",
    "processed": "SELECT COUNT(*) FROM processed WHERE status = 'done'",
    "dead_letters": "SELECT COUNT(*) FROM dead_letters WHERE status = 'dead'",
    "inbox": "SELECT COUNT(*) FROM inbox",
    "waits_pending": "SELECT COUNT(*) FROM waits WHERE status IN ('pending', 'ready')",
    "outbox_pending": "SELECT COUNT(*) FROM outbox_deliveries "
    "WHERE delivered_at IS NULL AND failed_at IS NULL",
    "outbox_failed": "SELECT COUNT(*) FROM outbox_deliveries WHERE failed_at IS NOT NULL",
}
"""Row counts an operator wants to see: name -> query of one number."""
