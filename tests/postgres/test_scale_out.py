"""bench/scale_out.py small, as a test: three instances in one Kafka group and one MQTT shared
subscription on one PostgreSQL database, one SIGKILLed twice and restarted under load: every
input has one product, every product notified at least once with one envelope id."""

from __future__ import annotations

import pytest

from bench.scale_out import run

pytestmark = pytest.mark.integration


async def test_three_instances_one_killed_twice_lose_and_double_nothing(
    kafka, mqtt, postgres, tmp_path
):
    figures = await run(kafka, mqtt, postgres, tmp_path, n=120, instances=3, kills=2, seed=3)
    assert figures["SIGKILLs"] == 2 and figures["inputs"] == 240
    assert figures["lost"] == 0
    assert figures["products per input"] == {1: 240}
    for sink in ("kafka", "mqtt"):
        assert 0 not in figures[f"{sink} notifications per product"]
        assert figures[f"{sink} envelope ids per product"] == {1: 240}
    # the instances shared the work (the killed one's restarts included)
    assert sum(1 for n in figures["messages processed per instance (logged)"].values() if n) >= 2
    assert figures["partition assignments logged"] >= 3
