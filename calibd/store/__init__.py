"""The CalibPipe database: records, and the SQLite store (`Store`).

`from calibd.store import Store` gives the SQLite store; backends live in subpackages.
"""

from calibd.store.errors import StoreBusy, StoreError
from calibd.store.protocols import (
    PipelineStore,
    ReadStore,
    RelayStore,
    SourceStore,
    StoreBackend,
)
from calibd.store.records import (
    Completion,
    ConfigVersionRow,
    DeadLetterRecord,
    DueWait,
    InboxRow,
    OutboxRecord,
    PendingDelivery,
    ProductRecord,
)
from calibd.store.sqlite import SqliteStore
from calibd.store.times import format_time, parse_time

Store = SqliteStore

__all__ = [
    "Completion",
    "ConfigVersionRow",
    "DeadLetterRecord",
    "DueWait",
    "InboxRow",
    "OutboxRecord",
    "PendingDelivery",
    "PipelineStore",
    "ProductRecord",
    "ReadStore",
    "RelayStore",
    "SourceStore",
    "SqliteStore",
    "Store",
    "StoreBackend",
    "StoreBusy",
    "StoreError",
    "format_time",
    "parse_time",
]
