"""The versioned migrations of a backend: its package's `migrations/NNNN_<name>.sql` files
(package data), numbered 1..n; migration N leaves the database at schema version N. Add a
file for each change; never edit one that has shipped."""

from __future__ import annotations

import re
from importlib import resources

from calibd.errors import StoreError

__all__ = ["load_migrations", "newer_schema", "older_schema"]

_NAME = re.compile(r"(\d{4})_\w+\.sql")


def load_migrations(package: str) -> list[str]:
    """The SQL scripts of `package`'s migrations, in order (the first is version 1)."""
    folder = resources.files(package) / "migrations"
    found = sorted(
        (int(m.group(1)), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (m := _NAME.fullmatch(entry.name))
    )
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"{package} migrations are not numbered 1..n: {numbers}")
    return [script for _, script in found]


def newer_schema(where: str, version: int, known: int) -> StoreError:
    """The error of a database whose schema is newer than this calibd's migrations."""
    return StoreError(
        f"database {where} has schema version {version}, newer than this calibd ({known}); "
        "upgrade calibd"
    )


def older_schema(where: str, version: int, known: int) -> StoreError:
    """The error of a database not migrated to this calibd's schema yet."""
    return StoreError(
        f"database {where} has schema version {version}, this calibd needs {known}: "
        "run `calibd db migrate`"
    )
