"""The CalibPipe database: records, and the SQLite store (`Store`).

`from calibd.store import Store` gives the SQLite store; backends live in subpackages.
"""

from calibd.store.errors import StoreBusy, StoreError
from calibd.store.records import Completion, DeadLetterRecord, OutboxRecord, ProductRecord
from calibd.store.sqlite import SqliteStore
from calibd.store.times import format_time, parse_time

Store = SqliteStore

__all__ = [
    "Completion",
    "DeadLetterRecord",
    "OutboxRecord",
    "ProductRecord",
    "SqliteStore",
    "Store",
    "StoreBusy",
    "StoreError",
    "format_time",
    "parse_time",
]
