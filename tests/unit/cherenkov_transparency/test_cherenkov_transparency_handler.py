"""Trigger rates through the pipeline and a real SQLite store (the product itself and its use
by the FRAM-down fallback: tests/unit/aerosol/test_aerosol_handlers.py)."""

from __future__ import annotations

import json

import pytest

from calibd.testing import raw_message as raw
from calibd.testing import running_pipeline
from tests.conftest import example


@pytest.fixture
async def env(tmp_path):
    async with running_pipeline(tmp_path) as h:
        yield h.store, h.pipeline


async def test_bad_trigger_rates_are_dead_lettered(env):
    store, pipeline = env
    rates = example("ctao.acada.trigger_rates")
    zero = json.loads(json.dumps(rates))
    zero["id"] += "-zero"
    zero["data"]["telescopes"][0]["rate_hz"] = 0.0
    partial = json.loads(json.dumps(rates))
    partial["id"] += "-partial"
    del partial["data"]["telescopes"][0]["zenith_deg"]
    backwards = json.loads(json.dumps(rates))
    backwards["id"] += "-backwards"
    backwards["data"]["interval_end"] = backwards["data"]["interval_start"]
    for bad in (zero, partial, backwards):
        assert (await pipeline.process(raw(bad))).status == "dead"
    details = [d["detail"] for d in await store.dead_letters()]
    assert any("rate_hz" in d and "greater than 0" in d for d in details)
    assert any("zenith_deg is given for some telescopes only" in d for d in details)
    assert any("interval_end must be after interval_start" in d for d in details)


@pytest.mark.parametrize("key", ["cherenkov_transparency", "transparency"])
async def test_settings_under_the_new_and_the_deprecated_key(tmp_path, key):
    """`handlers.transparency` (the handler's former name) still sets its configuration."""
    settings = {"handlers": {key: {"k_reference": 800.0}}}
    async with running_pipeline(tmp_path, settings=settings) as h:
        config = h.pipeline.runtime.current.handler_config("cherenkov_transparency", "B")
        assert config.k_reference == 800.0
        assert h.pipeline.registry.by_name("transparency").name == "cherenkov_transparency"
        assert h.pipeline.runtime.baseline["handlers"] == {
            "cherenkov_transparency": settings["handlers"][key]
        }
