"""The seed's FRAM-down scenario end to end, through real brokers and a real daemon process:
fram_down message -> fallback product -> quality request on the bus -> a QualPipe assessment
sent by the test -> report on the bus. And the deadline path with no assessment (MQTT)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import example
from tests.integration.kafka_io import consume, produce
from tests.integration.test_kafka_path import assigned, kafka_settings
from tests.integration.test_mqtt_and_triggers import Listener, mqtt_settings, publish
from tests.support.daemon_process import DaemonProcess

pytestmark = pytest.mark.integration


async def test_fram_down_end_to_end_on_kafka(kafka, tmp_path, uid):
    settings = kafka_settings(
        kafka,
        uid,
        **{
            "kafka.topics": [f"acada.calibration.{uid}", f"qualpipe.assessments.{uid}"],
            "kafka.quality_topic": f"calibpipe.quality_requests.{uid}",
            "kafka.reports_topic": f"calibpipe.reports.{uid}",
            "pipeline.handler_modules": ["calibd.handlers"],
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_log(assigned, what="partition assignment")
        down = example("ctao.acada.fram_down")
        await produce(kafka.bootstrap, f"acada.calibration.{uid}", [json.dumps(down).encode()])

        # QualPipe's side: read the request, judge the product it names, answer
        (request,) = await consume(kafka.bootstrap, f"calibpipe.quality_requests.{uid}", 1)
        request = request["value"]
        assert request["type"] == "ctao.calibpipe.quality_request"
        product_id = request["data"]["product_id"]
        (ready,) = await consume(kafka.bootstrap, f"calibpipe.products.{uid}", 1)
        assert ready["value"]["data"]["product_id"] == product_id
        assert ready["value"]["data"]["product_type"] == "aerosol_extinction"
        assert ready["value"]["data"]["summary"]["method"] == "seasonal"
        stored = daemon.query("SELECT payload FROM products WHERE id = ?", (product_id,))
        assert json.loads(stored[0]["payload"])["missing_input"] == "FRAM"
        assessment = example(
            "ctao.qualpipe.assessment",
            request_id=request["id"],
            product_id=product_id,
            verdict="acceptable",
            comment="extinction within the seasonal envelope",
        )
        await produce(
            kafka.bootstrap, f"qualpipe.assessments.{uid}", [json.dumps(assessment).encode()]
        )

        (report,) = await consume(kafka.bootstrap, f"calibpipe.reports.{uid}", 1)
        data = report["value"]["data"]
        assert report["value"]["type"] == "ctao.calibpipe.report"
        assert data["report_type"] == "fram_down"
        assert data["period_start"].startswith("2026-11-24T20:00")
        details = data["details"]
        assert details["fram_data_missing"] is True
        assert details["method"] == "seasonal"
        assert details["vaod"] > 0 and details["vaod_err"] > 0
        assert details["verdict"] == "acceptable" and details["dl1_may_proceed"] is True
        assert details["quality_request_id"] == request["id"]
        assert product_id in data["product_ids"]
        waits = daemon.query("SELECT status FROM waits")
        assert [w["status"] for w in waits] == ["completed"]
    finally:
        assert daemon.stop() == 0


async def test_fram_down_without_assessment_reports_unassessed_on_mqtt(mqtt, tmp_path, uid):
    settings = mqtt_settings(
        mqtt,
        uid,
        **{
            "mqtt.quality_topic": f"test/{uid}/quality_requests",
            "mqtt.reports_topic": f"test/{uid}/reports",
            "pipeline.handler_modules": ["calibd.handlers"],
            "handlers.fram_down.assessment_timeout_s": 2.0,
        },
    )
    daemon = DaemonProcess(tmp_path / "calibd", settings).start()
    try:
        daemon.wait_msg("mqtt connected")
        async with (
            Listener(mqtt, f"test/{uid}/quality_requests") as requests,
            Listener(mqtt, f"test/{uid}/reports") as reports,
        ):
            down = example("ctao.acada.fram_down")
            await publish(mqtt, f"test/{uid}/ctao/acada/fram_down", json.dumps(down).encode())
            ((_, request),) = await requests.wait(1)
            ((_, report),) = await reports.wait(1, timeout=30)
        details = report["data"]["details"]
        assert details["verdict"] == "unassessed" and details["dl1_may_proceed"] is False
        assert details["quality_request_id"] == request["id"]
        assert [w["status"] for w in daemon.query("SELECT status FROM waits")] == ["expired"]
    finally:
        assert daemon.stop() == 0
