"""The dashboard's reads: filtered product pages with an offset, counts, supersession links."""

from __future__ import annotations

from calibd.store import StoreBackend
from tests.store_contract.records import done, ft, product, t


async def test_product_page_filters_and_pages(store: StoreBackend):
    f = ft
    await store.commit(
        [
            done("e1", product("b1", "B", f("2026-01-01T00:00:00"), created="1")),
            done("e2", product("b2", "B", f("2026-01-02T00:00:00"), created="2", tel_id=2)),
            done("e3", product("a3", "A", f("2026-01-03T00:00:00"), created="3")),
            done(
                "e4",
                product("m4", "B", f("2026-01-04T00:00:00"), created="4", product_type="irf"),
            ),
        ]
    )
    page = lambda **kw: store.product_page(**kw)  # noqa: E731
    assert [p["id"] for p in await page()] == ["m4", "a3", "b2", "b1"]
    assert [p["id"] for p in await page(limit=2, offset=1)] == ["a3", "b2"]
    assert [p["id"] for p in await page(limit=2, offset=4)] == []
    assert [p["id"] for p in await page(product_type="irf")] == ["m4"]
    assert [p["id"] for p in await page(tel_id=2)] == ["b2"]
    assert [p["id"] for p in await page(category="A")] == ["a3"]
    since, until = t("2026-01-02T00:00:00"), t("2026-01-04T00:00:00")
    assert [p["id"] for p in await page(since=since, until=until)] == ["a3", "b2"]
    at = await page(at=t("2026-01-03T12:00:00"), product_type="camera_calibration", tel_id=1)
    assert [p["id"] for p in at] == ["b1", "a3"]  # best first: Cat-B outranks a later Cat-A
    assert (await page(product_type="irf"))[0]["summary"] == {}


async def test_product_counts_and_superseded_products(store: StoreBackend):
    f = ft
    await store.commit([done("e1", product("b1", "B", f("2026-01-01T00:00:00"), created="1"))])
    await store.commit([done("e2", product("c1", "C", f("2026-01-01T00:00:00"), created="2"))])
    counts = await store.product_counts()
    assert [(c["product_type"], c["tel_id"], c["status"], c["n"]) for c in counts] == [
        ("camera_calibration", 1, "superseded", 1),
        ("camera_calibration", 1, "valid", 1),
    ]
    assert [p["id"] for p in await store.superseded_products("c1")] == ["b1"]
    assert await store.superseded_products("b1") == []
    listed = await store.product_page(include_superseded=True)
    assert [p["id"] for p in listed] == ["c1", "b1"]
