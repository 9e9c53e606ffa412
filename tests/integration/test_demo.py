"""`calibd demo` tells its story without false errors: the night's products, FRAM down ->
fallback -> quality request -> QualPipe's assessment of that request -> report, one
configuration change accepted and one rejected on purpose, one broken message; it ends with a
summary and nothing left waiting. Asserted on the demo's own database and log."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAMILY_TYPES = {
    "camera_pedestal",
    "camera_calibration",
    "molecular_extinction",
    "aerosol_extinction",
    "cherenkov_transparency",
    "optical_throughput_muon",
    "irf",
    "quality_assessment",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "calibd", "--log-format", "json", "demo", "--keep", str(workdir)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    logs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    text = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("{"))
    db = sqlite3.connect(workdir / "calibd.sqlite")
    db.row_factory = sqlite3.Row
    yield {"logs": logs, "text": text, "db": db}
    db.close()


def rows(demo, sql: str, *args) -> list[dict]:
    return [dict(r) for r in demo["db"].execute(sql, args)]


def outbox(demo, event_type: str) -> list[dict]:
    found = rows(demo, "SELECT envelope FROM outbox WHERE event_type = ? ORDER BY seq", event_type)
    return [json.loads(r["envelope"]) for r in found]


def test_only_the_intended_warnings_and_errors_are_logged(demo):
    loud = [(e["level"], e["msg"], e.get("reason")) for e in demo["logs"]]
    loud = sorted(x for x in loud if x[0] in ("warning", "error", "critical"))
    assert loud == [
        ("error", "message dead-lettered", "config_rejected"),
        ("error", "message dead-lettered", "malformed"),
        ("warning", "FRAM data missing: aerosol extinction from the fallback", None),
    ]


def test_products_of_every_family_and_two_intended_dead_letters(demo):
    types = {r["product_type"] for r in rows(demo, "SELECT product_type FROM products")}
    assert types >= FAMILY_TYPES
    letters = rows(demo, "SELECT reason, event_id, event_type FROM dead_letters ORDER BY id")
    assert [(d["reason"], d["event_type"]) for d in letters] == [
        ("malformed", None),
        ("config_rejected", "ctao.calibpipe.config_change"),
    ]


def test_fram_down_fallback_is_assessed_by_qualpipe_and_reported(demo):
    aerosol = rows(
        demo, "SELECT id, summary FROM products WHERE product_type = 'aerosol_extinction'"
    )
    methods = {json.loads(p["summary"])["method"]: p["id"] for p in aerosol}
    assert set(methods) == {"fram", "last_fram"}  # the fallback from the night's FRAM data
    fallback_requests = [
        q for q in outbox(demo, "ctao.calibpipe.quality_request")
        if q["data"]["product_id"] == methods["last_fram"]
    ]  # fmt: skip
    assert len(fallback_requests) == 1
    (assessment,) = rows(
        demo, "SELECT payload FROM products WHERE product_type = 'quality_assessment'"
    )
    verdict = json.loads(assessment["payload"])
    assert verdict["request_id"] == fallback_requests[0]["id"]
    assert verdict["product_id"] == methods["last_fram"] and verdict["product_known"] is True
    (wait,) = rows(demo, "SELECT status, resolved_by FROM waits WHERE kind = 'assessment'")
    assert wait["status"] == "completed" and wait["resolved_by"]
    reports = [r["data"] for r in outbox(demo, "ctao.calibpipe.report")]
    fram = [r for r in reports if r["report_type"] == "fram_down"]
    assert len(fram) == 1 and fram[0]["details"]["verdict"] == "acceptable"
    assert fram[0]["details"]["method"] == "last_fram"


def test_one_configuration_change_accepted_and_one_rejected(demo):
    reports = [r["data"] for r in outbox(demo, "ctao.calibpipe.report")]
    accepted = sorted(
        r["details"]["accepted"] for r in reports if r["report_type"] == "config_change"
    )
    assert accepted == [False, True]
    versions = rows(demo, "SELECT version FROM config_versions ORDER BY version")
    assert [v["version"] for v in versions] == [1, 2]


def test_nothing_is_left_waiting_and_the_summary_says_so(demo):
    assert rows(demo, "SELECT id FROM waits WHERE status IN ('pending', 'ready')") == []
    assert rows(demo, "SELECT id FROM waits WHERE kind = 'assessment' AND status = 'expired'") == []
    text = demo["text"]
    assert "nothing left waiting" in text and "NOT intended" not in text
    assert "(intended: the message broken on purpose)" in text
    assert "(intended: the configuration change rejected on purpose)" in text
    for product_type in FAMILY_TYPES:
        assert f"    {product_type}" in text
