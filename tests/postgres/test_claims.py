"""Several writers on one PostgreSQL database: the processed ledger is claimed atomically, so
two instances never both write a product for the same input; values PostgreSQL cannot store
are the message's fault (StoreValueError), not the database's."""

from __future__ import annotations

import asyncio

import pytest

from calibd.store import StoreValueError
from calibd.store.postgres import PostgresStore
from calibd.store.postgres.migrate import MIGRATIONS
from tests.store_contract.records import done, ft, product


@pytest.fixture
async def url(postgres) -> str:
    url = postgres.url(postgres.create_database("claims"))
    async with PostgresStore(url):  # migrated
        pass
    return url


async def test_an_input_claimed_by_another_instance_meanwhile_is_a_duplicate(url):
    start = ft("2026-01-01T00:00:00")
    async with PostgresStore(url) as first, PostgresStore(url) as second:
        async with first.pool.acquire() as conn, conn.transaction():
            # the first instance has claimed e1 and not committed yet: the second looks,
            # finds nothing, and its claim waits for the first's transaction
            await conn.execute(
                "INSERT INTO processed (source, event_id, status, transport, finished_at) "
                "VALUES ('s', 'e1', 'done', 't', now())"
            )
            late = done("e1", product("p-second", "B", start))
            other = done("e2", product("p-other", "B", start))
            racing = asyncio.create_task(second.commit([late, other]))
            await asyncio.sleep(0.3)
            assert not racing.done()  # waiting on the first's claim
        await racing  # the first committed: the second's claim lost, its commit re-ran
        assert late.was_duplicate and not other.was_duplicate
        ids = {p["id"] for p in await second.products(include_superseded=True)}
        assert ids == {"p-other"}
        assert set(await first.processed([("s", "e1"), ("s", "e2")])) == {("s", "e1"), ("s", "e2")}


async def test_many_instances_committing_one_input_write_one_product(url):
    start = ft("2026-01-01T00:00:00")
    stores = [PostgresStore(url) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        items = [done("same", product(f"p{i}", "B", start)) for i in range(len(stores))]
        await asyncio.gather(*(s.commit([c]) for s, c in zip(stores, items, strict=True)))
        assert sorted(c.was_duplicate for c in items) == [False, True, True, True]
        assert len(await stores[0].products(include_superseded=True)) == 1
    finally:
        for s in stores:
            await s.close()


N = 2000


async def test_group_commits_claiming_the_same_keys_in_other_orders_never_deadlock(url):
    async with PostgresStore(url) as one, PostgresStore(url) as two:
        for r in range(3):
            keys = [f"k{r}-{i:04}" for i in range(N)]
            first = [done(k) for k in keys]
            second = [done(k) for k in reversed(keys)]
            async with one.pool.acquire() as gate, gate.transaction():
                # both look first, then claim together when the gate opens: one from each end
                await gate.execute("LOCK TABLE processed IN EXCLUSIVE MODE")
                racing = asyncio.gather(one.commit(first), two.commit(second))
                await asyncio.sleep(0.2)
            await racing  # no StoreBusy (a deadlock)
            made = [c.event_id for c in first + second if not c.was_duplicate]
            assert sorted(made) == keys
        assert (await one.counts())["processed"] == 3 * N


@pytest.mark.parametrize(
    "change",
    [
        {"tel_id": 2**40},  # past the integer column
        {"algorithm": "nul \x00 in text"},
        {"product_type": "lone \udc80 surrogate"},
    ],
)
async def test_a_value_postgres_cannot_store_is_the_messages_fault(url, change):
    p = product("p1", "B", ft("2026-01-01T00:00:00"))
    for name, value in change.items():
        setattr(p, name, value)
    async with PostgresStore(url) as store:
        with pytest.raises(StoreValueError):
            await store.commit([done("e1", p)])
        await store.commit([done("e2", product("p2", "B", ft("2026-01-01T00:00:00")))])
        assert [r["id"] for r in await store.products()] == ["p2"]  # the store goes on


async def test_instances_starting_together_on_an_empty_database_migrate_once(postgres):
    url = postgres.url(postgres.create_database("together"))
    stores = [PostgresStore(url) for _ in range(4)]
    opened = await asyncio.gather(*(s.open() for s in stores))  # no CREATE TABLE race
    try:
        assert [await s.schema_version() for s in opened] == [len(MIGRATIONS)] * 4
        assert postgres.psql(
            "SELECT count(*) FROM calibd_schema", url.rsplit("/", 1)[1]
        ).strip() == str(len(MIGRATIONS))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
