"""Configuration versions: numbered in order, found by event and by time."""

from __future__ import annotations

from datetime import datetime

import pytest

from calibd.store import ConfigVersionRow, StoreBackend, VersionConflict
from tests.store_contract.records import later, now, t


async def add(store: StoreBackend, event_id: str | None, value: int, **after) -> int:
    return await store.add_config_version(
        requested_by="operator",
        reason=f"set {value}",
        event_id=event_id,
        changes=[{"key": "handlers.h.x", "previous": None, "value": value}],
        overlay={"handlers": {"h": {"x": value}}},
        effective={"handlers": {"h": {"x": value}}, "default_category": "B"},
        config_hash=f"hash{value}",
        **after,
    )


async def test_versions_are_numbered_and_read_back(store: StoreBackend):
    assert await store.latest_config_version() is None
    assert await store.config_version_at(now()) is None
    first = await add(store, None, 1)
    second = await add(store, "change-1", 2)
    assert second == first + 1
    latest = await store.latest_config_version()
    assert isinstance(latest, ConfigVersionRow)
    assert (latest.version, latest.event_id, latest.config_hash) == (second, "change-1", "hash2")
    assert latest.changes == [{"key": "handlers.h.x", "previous": None, "value": 2}]
    assert latest.overlay == {"handlers": {"h": {"x": 2}}}
    assert latest.effective["default_category"] == "B"
    assert isinstance(latest.created_at, datetime) and latest.created_at <= now()
    by_event = await store.config_version_of_event("change-1")
    assert by_event == latest
    assert await store.config_version_of_event("change-2") is None
    assert (await store.config_version_at(later(1)))["version"] == second
    assert await store.config_version_at(t("2000-01-01T00:00:00")) is None
    assert [v["version"] for v in await store.config_versions()] == [second, first]
    assert [v["version"] for v in await store.config_versions(1)] == [second]


async def test_a_version_recorded_after_a_given_one_is_refused_when_another_came_first(
    store: StoreBackend,
):
    first = await add(store, None, 1, after=0)
    with pytest.raises(VersionConflict):
        await add(store, None, 2, after=0)  # another instance recorded `first` meanwhile
    assert (await store.latest_config_version()).version == first
    assert await add(store, None, 2, after=first) == first + 1
    assert await add(store, None, 3) == first + 2  # without `after`: no check
