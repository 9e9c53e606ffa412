"""The CalibPipe database: migrations, atomic group commits, 'best product valid at t'."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from calibd.errors import StoreError
from calibd.store import Completion, ProductRecord, Store, format_time
from calibd.store.sqlite.migrate import MIGRATIONS


def product(pid: str, category: str, start: str, end: str | None = None, created: str = "1"):
    return ProductRecord(
        id=pid,
        product_type="camera_calibration",
        tel_id=1,
        category=category,
        valid_from=start,
        valid_to=end,
        created_at=created,
        input_source="s",
        input_event_id=pid,
        algorithm="a",
        algorithm_version="1",
        config_hash="h",
        payload="{}",
        summary="{}",
        arrays=None,
        provenance={
            "input_message": b"{}",
            "input_transport": "t",
            "input_origin": "o",
            "input_files": "[]",
            "algorithm": "a",
            "algorithm_version": "1",
            "handler": "h",
            "config": "{}",
            "config_hash": "h",
            "software": "{}",
            "host": "x",
            "started_at": "1",
            "finished_at": "2",
        },
    )


def done(pid: str, *products: ProductRecord) -> Completion:
    return Completion(
        status="done",
        transport="t",
        source="s",
        event_id=pid,
        event_type="ctao.acada.flatfield_run",
        products=list(products),
    )


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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


async def test_group_commit_is_all_or_nothing(tmp_path):
    async with Store(tmp_path / "db.sqlite") as store:
        good = done("e1", product("p1", "B", format_time(t("2026-01-01T00:00:00"))))
        bad = done("e2", product("p2", "Z", format_time(t("2026-01-01T00:00:00"))))  # CHECK fails
        with pytest.raises(sqlite3.IntegrityError):
            await store.commit([good, bad])
        assert await store.processed([("s", "e1"), ("s", "e2")]) == {}
        assert await store.products() == []


async def test_a_completed_event_is_never_committed_twice(tmp_path):
    async with Store(tmp_path / "db.sqlite") as store:
        start = format_time(t("2026-01-01T00:00:00"))
        await store.commit([done("e1", product("p1", "B", start))])
        again = done("e1", product("p1-again", "B", start))
        await store.commit([again])
        assert again.was_duplicate
        assert [p["id"] for p in await store.products()] == ["p1"]


async def test_best_product_prefers_cat_c_then_latest_start(tmp_path):
    async with Store(tmp_path / "db.sqlite") as store:
        f = lambda s: format_time(t(s))  # noqa: E731
        await store.commit(
            [
                done("e1", product("b-old", "B", f("2026-01-01T00:00:00"), created="1")),
                done("e2", product("b-new", "B", f("2026-01-02T00:00:00"), created="2")),
                done(
                    "e3",
                    product(
                        "c", "C", f("2026-01-01T00:00:00"), f("2026-01-03T00:00:00"), created="3"
                    ),
                ),
                done("e4", product("a-late", "A", f("2026-01-05T00:00:00"), created="4")),
            ]
        )
        best = lambda at: store.best_product("camera_calibration", 1, t(at))  # noqa: E731
        assert (await best("2026-01-01T12:00:00"))["id"] == "c"
        assert (await best("2026-01-02T12:00:00"))["id"] == "c"
        assert (await best("2026-01-03T12:00:00"))["id"] == "b-new"  # Cat-C no longer valid
        assert (await best("2026-01-06T00:00:00"))["id"] == "b-new"  # B outranks a later A
        assert await best("2025-12-31T00:00:00") is None
        assert await store.best_product("camera_calibration", 2, t("2026-01-02T00:00:00")) is None
        listed = await store.products(at=t("2026-01-02T12:00:00"))
        assert [p["id"] for p in listed] == ["c", "b-new"]  # b-old: superseded by c
        everything = await store.products(at=t("2026-01-02T12:00:00"), include_superseded=True)
        assert [p["id"] for p in everything] == ["c", "b-new", "b-old"]


async def test_cat_c_supersedes_cat_b_of_the_same_interval_and_truncation(tmp_path):
    async with Store(tmp_path / "db.sqlite") as store:
        f = lambda s: format_time(t(s))  # noqa: E731
        b1 = product("b1", "B", f("2026-01-01T00:00:00"))
        b2 = product("b2", "B", f("2026-01-02T00:00:00"))
        await store.commit([done("e1", b1), done("e2", b2)])
        await store.commit([done("e3", product("c1", "C", f("2026-01-01T00:00:00")))])
        listed = {p["id"]: p for p in await store.products(include_superseded=True)}
        assert (listed["b1"]["status"], listed["b1"]["superseded_by"]) == ("superseded", "c1")
        assert listed["b2"]["status"] == "valid"  # another interval: untouched
        assert {p["id"] for p in await store.products()} == {"c1", "b2"}

        newer = product("b3", "B", f("2026-01-05T00:00:00"))
        newer.truncates = ["b2"]
        newer.supersedes = ["c1"]
        await store.commit([done("e4", newer)])
        listed = {p["id"]: p for p in await store.products(include_superseded=True)}
        assert listed["b2"]["valid_to"] == f("2026-01-05T00:00:00")
        assert listed["c1"]["status"] == "superseded"
        best = await store.best_product("camera_calibration", 1, t("2026-01-03T00:00:00"))
        assert best["id"] == "b2"
        best = await store.best_product("camera_calibration", 1, t("2026-01-06T00:00:00"))
        assert best["id"] == "b3"


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
