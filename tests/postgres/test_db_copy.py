"""`calibd db copy`: an embedded SQLite database into an empty PostgreSQL one, with its history,
verified; what PostgreSQL then answers is what SQLite answered."""

from __future__ import annotations

import asyncio

from calibd.config import load_settings
from calibd.store.copy import TABLES
from calibd.store.factory import make_store
from calibd.store.sqlite import SqliteStore
from tests.postgres.test_schema import calibd, cli_logging  # noqa: F401 (fixtures)
from tests.store_contract.records import dead, done, ft, later, notice, product, wait


async def fill(path) -> None:
    """Products (one superseded), provenance, the outbox (one row delivered), a dead letter,
    a wait, an inbox row and a configuration version."""
    async with SqliteStore(path) as store:
        old = product("p1", "B", ft("2026-03-01T00:00:00"), created="1")
        await store.commit([done("e1", old, outbox=[notice("n1"), notice("n2", ("kafka",))])])
        new = product("p2", "C", ft("2026-03-01T00:00:00"), created="5")
        await store.commit([done("e2", new, waits=[wait("e2", "pedestal", "k", later(3600))])])
        await store.mark_delivered("kafka", ["n1"])
        await store.commit([dead("e3")])
        await store.add_many_to_inbox("mqtt", [("ctao/x", b"{}")])
        await store.add_config_version(
            requested_by="operator", reason="why", event_id=None, changes=[{"k": 1}],
            overlay={"a": 1}, effective={"a": 1}, config_hash="h",
        )  # fmt: skip


async def answers(settings) -> dict:
    async with make_store(settings) as store:
        products = await store.products(include_superseded=True)
        return {
            "products": products,
            "one": [await store.product(p["id"]) for p in products],
            "dead": await store.dead_letters(),
            "waits": await store.waits(),
            "versions": await store.config_versions(),
            "counts": await store.counts(),
            "backlog": await store.outbox_backlog(),
            "inbox": [(r.transport, r.origin, r.payload) for r in await store.inbox()],
        }


def test_a_sqlite_database_copied_into_postgres_answers_the_same(postgres, calibd, tmp_path):  # noqa: F811
    source = tmp_path / "embedded.sqlite"
    asyncio.run(fill(source))
    url = postgres.url(postgres.create_database("copy"))
    code, out = calibd(url, "db", "copy", "--from", str(source))
    assert code == 0, out
    assert out.count(" ok") == len(TABLES) and "copied" in out
    embedded = load_settings(
        overrides={"data_dir": str(tmp_path), "database": {"path": str(source)}}
    )
    shared = load_settings(overrides={"data_dir": str(tmp_path), "database": {"url": url}})
    here, there = asyncio.run(answers(embedded)), asyncio.run(answers(shared))
    assert there == here and len(here["products"]) == 2 and here["dead"]
    assert {p["status"] for p in here["products"]} == {"valid", "superseded"}

    # new rows after the copy get new ids (the identity sequences were set past the copied)
    async def more() -> list[int]:
        async with make_store(shared) as store:
            await store.commit([dead("e4")])
            return [d["id"] for d in await store.dead_letters()]

    ids = asyncio.run(more())
    assert len(set(ids)) == 2
    # into a database that is not empty: refused, nothing changed
    code, out = calibd(url, "db", "copy", "--from", str(source))
    assert code == 2 and "not empty" in out


def test_a_source_that_is_not_at_this_schema_or_missing_is_refused(postgres, calibd, tmp_path):  # noqa: F811
    url = postgres.url(postgres.create_database("copy_refused"))
    code, out = calibd(url, "db", "copy", "--from", str(tmp_path / "missing.sqlite"))
    assert code == 2 and "no such file" in out
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    code, out = calibd(url, "db", "copy", "--from", str(empty))
    assert code == 3, out
