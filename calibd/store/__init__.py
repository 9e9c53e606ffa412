"""The CalibPipe database.

records     what callers write (Completion and its records) and read (typed rows)
protocols   what each consumer needs of a store (PipelineStore, RelayStore, ...)
rules       categories, supersession, wait keys: written once for every backend
plan        what a group commit writes (and columns: the rows' columns and values)
listing     the product listing; sql: SQL both backends run; rows: rows to records
errors      StoreError, StoreBusy, StoreUnavailable, StoreValueError (a message's values,
            not a fault)
times       the stored text form of times
migrations  each backend's numbered migration files
factory     the store the settings name (SQLite, or PostgreSQL for `database.url`)
admin       `calibd db migrate` / `calibd db check`
sqlite/     the SQLite backend; `Store` is its store class
postgres/   the PostgreSQL backend (asyncpg), `PostgresStore`
"""

from calibd.store.errors import (
    StoreBusy,
    StoreError,
    StoreUnavailable,
    StoreValueError,
    VersionConflict,
)
from calibd.store.protocols import (
    InboxStore,
    PipelineStore,
    ReadStore,
    RelayStore,
    StoreBackend,
)
from calibd.store.records import (
    Completion,
    ConfigVersionRow,
    DeadLetterRecord,
    DueWait,
    InboxRow,
    InputProduct,
    OutboxRecord,
    PendingDelivery,
    ProductRecord,
    ReleasedDeadLetter,
    ReprocessCandidate,
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
    "InboxStore",
    "InputProduct",
    "OutboxRecord",
    "PendingDelivery",
    "PipelineStore",
    "ProductRecord",
    "ReadStore",
    "RelayStore",
    "ReleasedDeadLetter",
    "ReprocessCandidate",
    "SqliteStore",
    "Store",
    "StoreBackend",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "StoreValueError",
    "VersionConflict",
    "format_time",
    "parse_time",
]
