"""Database rows (any mapping of column names) to the store's read records, by the records'
field types: a `datetime` field is parsed from its TEXT column (SQLite) or taken as the
driver's datetime (PostgreSQL), a `dict`/`list` field decoded from its JSON text, a `bytes`
field read as bytes; every other column is taken as it is."""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from calibd.store import records
from calibd.store.records import (
    ConfigVersionRow,
    DueWait,
    InboxRow,
    InputProduct,
    PendingDelivery,
    ReleasedDeadLetter,
    ReprocessCandidate,
)
from calibd.store.times import parse_time

__all__ = [
    "config_version_row",
    "due_wait",
    "inbox_row",
    "input_product",
    "pending_delivery",
    "record",
    "released_dead_letter",
    "reprocess_candidate",
]

R = TypeVar("R")


def _as_bytes(value: Any) -> Any:
    return None if value is None else bytes(value)


def _as_datetime(value: Any) -> Any:
    return value if isinstance(value, datetime) else parse_time(value)


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How a column becomes a field of type `hint` (None: as it is)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint) or hint
    if origin is datetime:
        return _as_datetime
    if origin in (dict, list):
        return json.loads
    if origin is bytes:
        return _as_bytes
    return None


@functools.cache
def _columns(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    hints = typing.get_type_hints(cls, vars(records))
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))


def record(cls: type[R], row: Mapping[str, Any]) -> R:
    """The `cls` record of a row whose columns carry the record's field names."""
    values = {}
    for name, convert in _columns(cls):
        value = row[name]
        values[name] = value if convert is None or value is None else convert(value)
    return cls(**values)


inbox_row = functools.partial(record, InboxRow)
due_wait = functools.partial(record, DueWait)
pending_delivery = functools.partial(record, PendingDelivery)
config_version_row = functools.partial(record, ConfigVersionRow)
released_dead_letter = functools.partial(record, ReleasedDeadLetter)
reprocess_candidate = functools.partial(record, ReprocessCandidate)
input_product = functools.partial(record, InputProduct)
