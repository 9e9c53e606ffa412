"""The SQLite backend's own behaviour: migrations, WAL, a corrupt file, inbox ids. What every
backend must do is tested in tests/store_contract/."""

from __future__ import annotations

import sqlite3

import pytest

from calibd.errors import StoreError
from calibd.store import Completion, Store
from calibd.store.sqlite.migrate import MIGRATIONS


async def test_migrations_apply_once_and_refuse_newer_databases(tmp_path):
    path = tmp_path / "db.sqlite"
    async with Store(path):
        pass
    async with Store(path) as store:
        async with store.r.execute("PRAGMA user_version") as cur:
            assert (await cur.fetchone())[0] == len(MIGRATIONS)
        async with store.r.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this calibd"):
        await Store(path).open()


async def test_corrupt_database_is_a_clear_error(tmp_path):
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="db.sqlite"):
        await Store(path).open()


async def test_inbox_ids_are_never_reused_even_across_the_migration(tmp_path):
    """An MQTT dead letter is keyed by the inbox id: a reused id would swallow the next one."""
    path = tmp_path / "calibd.sqlite"
    with sqlite3.connect(path) as conn:  # a database as calibd left it at schema version 5
        for script in MIGRATIONS[:5]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version=5")
        conn.execute(
            "INSERT INTO dead_letters (origin_key, transport, origin, received_at, reason, "
            "detail, payload) VALUES ('mqtt:inbox:41', 'mqtt', 'o', 't', 'malformed', 'd', x'00')"
        )
    async with Store(path) as store:
        first = await store.add_many_to_inbox("mqtt", [("o", b"a"), ("o", b"b")])
        assert first == [42, 43]
        await store.commit(
            [Completion(status="duplicate", transport="mqtt", inbox_id=i) for i in first]
        )
        assert await store.inbox() == []
        (again,) = await store.add_many_to_inbox("mqtt", [("o", b"c")])
    assert again == 44
