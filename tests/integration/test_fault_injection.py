"""The fault-injection run of bench/fault_injection.py, small, as a test: calibd SIGKILLed and
SIGTERMed at random moments under a mixed Kafka + MQTT load loses nothing and doubles nothing."""

from __future__ import annotations

import pytest

from bench.fault_injection import run

pytestmark = pytest.mark.integration


async def test_kills_under_mixed_load_lose_and_double_nothing(kafka, mqtt, tmp_path):
    figures = await run(kafka, mqtt, tmp_path, n=150, kills=4, seed=7)
    assert figures["signals"] == {"SIGKILL": 3, "SIGTERM": 1}
    assert figures["inputs"] == 300
    assert figures["lost"] == 0
    assert figures["unknown products"] == 0
    assert figures["products per input"] == {1: 300}
    for sink in ("kafka", "mqtt"):
        # at least once; every copy of a notification carries the same envelope id
        assert 0 not in figures[f"{sink} notifications per product"]
        assert figures[f"{sink} envelope ids per product"] == {1: 300}
