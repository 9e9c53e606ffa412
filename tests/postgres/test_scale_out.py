"""bench/scale_out.py small, as a test: three (then two) instances in one Kafka group and one
MQTT shared subscription on one PostgreSQL database, one SIGKILLed twice and restarted under
load (the second time while waits are resumed). Echoed weather plus flat-field runs sent
before their pedestal and FRAM-downs that wait for QualPipe: every input has one product,
every wait completed once, every product notified at least once with one envelope id."""

from __future__ import annotations

import pytest

from bench.scale_out import run

pytestmark = pytest.mark.integration

WAITING = 4


@pytest.mark.parametrize("instances", [3, 2])
async def test_instances_one_killed_twice_lose_and_double_nothing(
    kafka, mqtt, postgres, tmp_path, instances
):
    figures = await run(
        kafka, mqtt, postgres, tmp_path, 120, instances, kills=2, seed=3, waiting=WAITING
    )
    total = 240 + 4 * WAITING  # weather, flat-fields, pedestals, FRAM-downs, assessments
    assert figures["SIGKILLs"] == 2 and figures["inputs"] == total
    assert figures["lost"] == 0
    assert figures["products per input"] == {1: total}
    for sink in ("kafka", "mqtt"):
        assert 0 not in figures[f"{sink} notifications per product"]
        assert figures[f"{sink} envelope ids per product"] == {1: total}
    # the instances shared the work (the killed one's restarts included)
    assert (
        sum(
            1
            for n in figures["messages processed per instance, every start (logged)"].values()
            if n
        )
        >= 2
    )
    assert figures["partition assignments logged"] >= 3
    # every waiting input waited once, and each wait completed
    assert figures["waits per waiting input"] == {1: 2 * WAITING}
    assert figures["waits by handler and status"] == {
        "camera_flatfield completed": WAITING,
        "fram_down completed": WAITING,
    }
    assert figures["reports by type"] == {"fram_down": WAITING}
    assert figures["calibrations paired with their telescope's pedestal"] == {"t": WAITING}
