"""Products: 'best product valid at t', supersession by a higher category, truncation."""

from __future__ import annotations

from calibd.store import StoreBackend
from tests.store_contract.records import done, ft, product, t


async def test_best_product_prefers_cat_c_then_latest_start(store: StoreBackend):
    f = ft
    await store.commit(
        [
            done("e1", product("b-old", "B", f("2026-01-01T00:00:00"), created="1")),
            done("e2", product("b-new", "B", f("2026-01-02T00:00:00"), created="2")),
            done(
                "e3",
                product("c", "C", f("2026-01-01T00:00:00"), f("2026-01-03T00:00:00"), created="3"),
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


async def test_cat_c_supersedes_cat_b_of_the_same_interval_and_truncation(store: StoreBackend):
    f = ft
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


async def test_only_a_higher_category_of_the_same_type_telescope_and_start_supersedes(
    store: StoreBackend,
):
    start = ft("2026-02-01T00:00:00")
    await store.commit(
        [
            done("e1", product("a1", "A", start)),
            done("e2", product("b-tel2", "B", start, tel_id=2)),
            done("e3", product("b-other", "B", start, product_type="pedestal")),
        ]
    )
    await store.commit([done("e4", product("b1", "B", start))])  # B over A
    await store.commit([done("e5", product("b1-again", "B", start))])  # B over B: no
    await store.commit([done("e6", product("a2", "A", start))])  # A under B: no
    status = {
        p["id"]: (p["status"], p["superseded_by"])
        for p in await store.products(include_superseded=True)
    }
    assert status == {
        "a1": ("superseded", "b1"),
        "b-tel2": ("valid", None),
        "b-other": ("valid", None),
        "b1": ("valid", None),
        "b1-again": ("valid", None),
        "a2": ("valid", None),
    }
    await store.commit([done("e7", product("c1", "C", start))])
    status = {p["id"]: p["superseded_by"] for p in await store.products(include_superseded=True)}
    assert status["b1"] == status["b1-again"] == status["a2"] == "c1"
    assert status["b-tel2"] is None and status["b-other"] is None


async def test_a_product_is_read_whole_by_id_or_unique_prefix(store: StoreBackend):
    start = ft("2026-01-01T00:00:00")
    await store.commit(
        [done("e1", product("prod-1", "B", start)), done("e2", product("prod-2", "B", start))]
    )
    prod = await store.product("prod-1")
    assert prod is not None
    assert (prod["id"], prod["payload"], prod["summary"]) == ("prod-1", {}, {})
    assert prod["provenance"]["handler"] == "h"
    assert (await store.product("prod-2"))["id"] == "prod-2"
    assert await store.product("prod-") is None  # ambiguous
    assert await store.product("nope") is None
    made = await store.products_of_input("s", "prod-1")
    assert [(p.id, p.product_type, p.tel_id, p.category, p.status) for p in made] == [
        ("prod-1", "camera_calibration", 1, "B", "valid")
    ]


async def test_reprocess_candidates_are_cat_a_and_b_products_of_the_period(store: StoreBackend):
    await store.commit(
        [
            done("e1", product("a", "A", ft("2026-01-01T00:00:00"), created="1")),
            done("e2", product("b", "B", ft("2026-01-02T00:00:00"), created="2")),
            done("e3", product("c", "C", ft("2026-01-02T00:00:00"), created="3")),
            done("e4", product("late", "B", ft("2026-01-09T00:00:00"), created="4")),
        ]
    )
    found = await store.reprocess_candidates(t("2026-01-01T00:00:00"), t("2026-01-05T00:00:00"))
    assert [c.id for c in found] == ["a", "b"]  # b is superseded by c, still a candidate
    first = found[0]
    assert (first.product_type, first.tel_id, first.category) == ("camera_calibration", 1, "A")
    assert first.valid_from == t("2026-01-01T00:00:00")
    assert (first.input_source, first.input_event_id) == ("s", "a")
    only = await store.reprocess_candidates(
        t("2026-01-01T00:00:00"), t("2026-01-10T00:00:00"), ["camera_calibration"], [1]
    )
    assert [c.id for c in only] == ["a", "b", "late"]
    assert (
        await store.reprocess_candidates(
            t("2026-01-01T00:00:00"), t("2026-01-10T00:00:00"), tel_ids=[7]
        )
        == []
    )
