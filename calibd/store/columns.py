"""The columns each backend inserts, and a record's values in their order, for every backend.

Times are in the records' stored text form; `time` turns each into the backend's parameter
(SQLite: the text itself; PostgreSQL: a datetime for its timestamptz column).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from calibd.store.records import DeadLetterRecord, ProductRecord
from calibd.store.rules import CATEGORIES, lower_categories

__all__ = [
    "DEAD_LETTER",
    "PRODUCT",
    "PROVENANCE",
    "WAIT",
    "by_category",
    "dead_letter_row",
    "insert_sql",
    "outright",
    "product_row",
    "provenance_row",
    "row_values",
    "truncations",
]

Time = Callable[[Any], Any]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


PRODUCT = _names(
    "id product_type tel_id category valid_from valid_to created_at input_source "
    "input_event_id algorithm algorithm_version config_hash payload summary arrays "
    "config_version"
)
PROVENANCE = _names(
    "product_id input_message input_transport input_origin input_files algorithm "
    "algorithm_version handler config config_hash software host started_at finished_at"
)
DEAD_LETTER = _names(
    "origin_key transport origin received_at event_id event_type event_source reason detail "
    "payload headers"
)
WAIT = _names(
    "handler kind key deadline created_at event_source event_id input_message "
    "input_transport input_origin state"
)
TIMES = frozenset(
    {"valid_from", "valid_to", "created_at", "started_at", "finished_at", "received_at"}
    | {"deadline"}
)


def row_values(columns: Sequence[str], row: dict[str, Any], time: Time) -> tuple[Any, ...]:
    """`row`'s values of `columns`, each time column through `time`."""
    return tuple(time(row[c]) if c in TIMES else row[c] for c in columns)


def product_row(p: ProductRecord) -> dict[str, Any]:
    return {c: getattr(p, c) for c in PRODUCT}


def provenance_row(p: ProductRecord) -> dict[str, Any]:
    return {"product_id": p.id, **p.provenance}


def dead_letter_row(d: DeadLetterRecord) -> dict[str, Any]:
    return {c: getattr(d, c) for c in DEAD_LETTER}


def insert_sql(table: str, columns: Sequence[str], marks: Sequence[str]) -> str:
    """INSERT INTO table (columns) VALUES (marks)."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"


def by_category(new: Sequence[ProductRecord]) -> Iterator[tuple[tuple[str, ...], list]]:
    """(the lower categories, the new products of the category above them), highest first:
    each supersedes the valid products of its type, telescope and validity start of a lower
    category (rules.supersedes_by_category)."""
    for category in reversed(CATEGORIES):
        lower = lower_categories(category)
        rows = [p for p in new if p.category == category]
        if lower and rows:
            yield lower, rows


def outright(new: Sequence[ProductRecord]) -> list[tuple[str, str]]:
    """(new id, old id) of the products the new ones supersede outright."""
    return [(p.id, old) for p in new for old in p.supersedes]


def truncations(new: Sequence[ProductRecord]) -> list[tuple[str, str]]:
    """(new validity start, old id): the old product stays valid only until then."""
    return [(p.valid_from, old) for p in new for old in p.truncates]
