"""FRAM down through the pipeline and a real SQLite store: fallback product, quality request,
the wait for QualPipe's assessment (across a restart), the report; and the deadline path."""

from __future__ import annotations

import asyncio
import json

import pytest

from calibd.config import load_settings
from calibd.daemon import load_handlers
from calibd.extensions import EXPORTERS
from calibd.pipeline import Pipeline, load_arrays
from calibd.sources.base import RawMessage
from calibd.store import Store
from tests.conftest import example


def raw(env: dict) -> RawMessage:
    return RawMessage("test", "t", f"k:{env['id']}", json.dumps(env).encode())


async def start(tmp_path, **fram_down):
    settings = load_settings(
        None,
        {
            "data_dir": str(tmp_path),
            "pipeline": {"workers": 1},
            "handlers": {"fram_down": fram_down},
        },
    )
    store = await Store(settings.database_path).open()
    pipeline = Pipeline(settings, store, load_handlers(["calibd.handlers"]), sinks=("kafka",))
    await pipeline.start()
    return store, pipeline


async def stop(store, pipeline):
    await pipeline.stop()
    await store.close()


async def outgoing(store, event_type: str) -> list[dict]:
    rows = await store.pending_deliveries("kafka", 1000)
    return [json.loads(r.envelope) for r in rows if r.event_type == event_type]


async def eventually(fn, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        while not (result := await fn()):
            await asyncio.sleep(0.05)
    return result


async def test_fram_down_fallback_request_assessment_and_report(tmp_path):
    store, pipeline = await start(tmp_path)
    down = example("ctao.acada.fram_down")  # November, CTAO-North, no CTC nor FRAM product
    outcome = await pipeline.process(raw(down))
    (pid,) = outcome.product_ids
    product = await store.product(pid)
    payload = product["payload"]
    assert payload["method"] == "seasonal" and payload["missing_input"] == "FRAM"
    assert payload["methods_without_input"] == ["ctc", "last_fram"]
    assert payload["vaod"] == pytest.approx(0.03) and payload["vaod_err"] == pytest.approx(0.03)
    assert product["valid_from"].startswith("2026-11-24T20:00")
    assert product["valid_to"].startswith("2026-11-25T06:00")
    arrays = load_arrays(product["arrays"])
    # Angstrom scaling from 400 nm with alpha 1.3
    assert arrays["tau"][0] == pytest.approx(0.03 * (355 / 400) ** -1.3)
    (request,) = await outgoing(store, "ctao.calibpipe.quality_request")
    assert request["id"] == payload["quality_request_id"]
    assert request["data"]["product_id"] == pid
    assert request["data"]["metrics"]["method"] == "seasonal"
    (wait,) = await store.waits("pending")
    assert (wait["kind"], wait["key"]) == ("assessment", request["id"])
    await stop(store, pipeline)

    store, pipeline = await start(tmp_path)  # the wait survives a restart
    unrelated = example("ctao.qualpipe.assessment")
    await pipeline.process(raw(unrelated))
    assert len(await store.waits("pending")) == 1
    verdict = example(
        "ctao.qualpipe.assessment",
        request_id=request["id"],
        product_id=pid,
        verdict="acceptable",
        comment="within the seasonal envelope",
    )
    await pipeline.process(raw(verdict))
    (report,) = await eventually(lambda: outgoing(store, "ctao.calibpipe.report"))
    details = report["data"]["details"]
    assert report["data"]["report_type"] == "fram_down"
    assert details["fram_data_missing"] is True and details["method"] == "seasonal"
    assert details["vaod_err"] == pytest.approx(0.03)
    assert details["verdict"] == "acceptable" and details["dl1_may_proceed"] is True
    assert details["fram_down_reason"] == "FRAM dome does not open"
    assert report["data"]["product_ids"][0] == pid and len(report["data"]["product_ids"]) == 2
    assert [w["status"] for w in await store.waits()] == ["completed"]

    path = tmp_path / "aerosol.fits"
    EXPORTERS["aerosol_extinction"]({**product, "arrays": None}, arrays, path)
    from astropy.io import fits

    header = fits.getheader(path, "AEROSOL_EXTINCTION")
    assert header["METHOD"] == "seasonal" and header["TUNIT1"] == "nm"
    await stop(store, pipeline)


async def test_no_assessment_before_the_deadline_reports_unassessed(tmp_path):
    store, pipeline = await start(tmp_path, assessment_timeout_s=0.3)
    await pipeline.process(raw(example("ctao.acada.fram_down")))
    (report,) = await eventually(lambda: outgoing(store, "ctao.calibpipe.report"))
    assert report["data"]["details"]["verdict"] == "unassessed"
    assert report["data"]["details"]["dl1_may_proceed"] is False
    assert [w["status"] for w in await store.waits()] == ["expired"]
    await stop(store, pipeline)


async def test_an_empty_fallback_chain_is_a_clear_dead_letter(tmp_path):
    store, pipeline = await start(tmp_path, fallback_chain=["last_fram"])
    outcome = await pipeline.process(raw(example("ctao.acada.fram_down")))
    assert outcome.status == "dead"
    (letter,) = await store.dead_letters()
    assert "no method of the fallback chain ['last_fram'] has its input" in letter["detail"]
    await stop(store, pipeline)


async def test_the_fallback_chain_is_switched_at_run_time_by_a_config_change(tmp_path):
    """The seed's configuration use case: action "set handlers.fram_down.fallback_chain",
    validated against the handler's settings, versioned, and used by the next FRAM down."""
    store, pipeline = await start(tmp_path)
    try:
        bad = example(
            "ctao.calibpipe.config_change",
            changes=[{"key": "handlers.fram_down.fallback_chain", "value": ["lidar"]}],
        )
        good = example(
            "ctao.calibpipe.config_change",
            changes=[{"key": "handlers.fram_down.fallback_chain", "value": ["seasonal"]}],
        )
        for env in (bad, good):
            await pipeline.process(raw(env))
        replies = [r["data"]["details"] for r in await outgoing(store, "ctao.calibpipe.report")]
        assert [r["accepted"] for r in replies] == [False, True]
        assert "fallback_chain" in replies[0]["error"]
        down = await pipeline.process(raw(example("ctao.acada.fram_down")))
        product = await store.product(down.product_ids[0])
        assert product["payload"]["methods_without_input"] == []  # straight to seasonal
        assert product["config_version"] == replies[1]["version"]
    finally:
        await stop(store, pipeline)
