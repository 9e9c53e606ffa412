"""Rules of the product store written once, for every backend and for the core.

- categories: Cat-A (real time) < Cat-B (next day) < Cat-C (reprocessed);
- supersession: a new product supersedes the valid products of the same type, telescope and
  validity start whose category is lower;
- product waits: every committed product resolves the wait (kind, key) of its type and
  telescope.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CATEGORIES",
    "INBOX_LEASE_PREFIX",
    "REPROCESSED",
    "Category",
    "category_rank",
    "inbox_lease",
    "lower_categories",
    "product_of_wait",
    "product_wait_key",
    "supersedes_by_category",
]

Category = Literal["A", "B", "C"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
"""Lowest first."""

REPROCESSED: Category = "C"
"""The category reprocessing makes (Cat-C supersedes Cat-A and Cat-B)."""

_RANK = {c: i for i, c in enumerate(CATEGORIES, start=1)}


def category_rank(category: str) -> int:
    """1 for Cat-A, 2 for Cat-B, 3 for Cat-C (an unknown category ranks as Cat-A)."""
    return _RANK.get(category, 1)


def lower_categories(category: str) -> tuple[Category, ...]:
    """The categories a product of `category` outranks."""
    return tuple(c for c in CATEGORIES if _RANK[c] < category_rank(category))


def supersedes_by_category(new: str, old: str) -> bool:
    """Whether a new product supersedes a valid one of the same type, telescope and validity
    start (the caller checks those): only by a higher category."""
    return category_rank(old) < category_rank(new)


_PRODUCT_KIND = "product:"
_TEL_KEY = "tel="


def product_wait_key(product_type: str, tel_id: int | None) -> tuple[str, str]:
    """The (kind, key) every committed product resolves automatically."""
    return (f"{_PRODUCT_KIND}{product_type}", f"{_TEL_KEY}{tel_id}")


def product_of_wait(kind: str, key: str) -> tuple[str, int | None] | None:
    """The (product type, telescope) a product wait is for; None for another kind of wait."""
    if not kind.startswith(_PRODUCT_KIND):
        return None
    tel = key.removeprefix(_TEL_KEY)
    return kind.removeprefix(_PRODUCT_KIND), None if tel == "None" else int(tel)


#: the lease an instance holds while it is alive: its inbox rows are its own until it expires
INBOX_LEASE_PREFIX = "inbox:"


def inbox_lease(instance: str) -> str:
    """The name of the lease `instance` holds on its inbox rows."""
    return f"{INBOX_LEASE_PREFIX}{instance}"
