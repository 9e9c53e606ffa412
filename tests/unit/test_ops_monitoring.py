"""The shipped Grafana dashboard and Prometheus alert rules (`ops/`): promtool checks the
rules and runs their unit test (`ops/prometheus/calibd-alerts.test.yml`), every dashboard
query is valid PromQL (checked by promtool as recording rules), the dashboard's JSON has the
shape Grafana imports, and the name parser finds what the queries select. That every name is
one calibd exports is checked against a running daemon's /metrics in
tests/integration/test_operations.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.ops_metrics import (
    ALERT_TESTS,
    ALERTS,
    DASHBOARD,
    dashboard_exprs,
    metric_names,
    used_names,
)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/test.sh installs Debian's prometheus package"
    return path


def run(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_promtool_checks_the_alert_rules(promtool):
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_the_alert_rules_unit_test_passes(promtool):
    result = run(promtool, "test", "rules", ALERT_TESTS.name, cwd=ALERT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alert_unit_test_covers_every_alert():
    alerts = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    tested = yaml.safe_load(ALERT_TESTS.read_text())["tests"][0]["alert_rule_test"]
    firing = {t["alertname"] for t in tested if t["exp_alerts"]}
    quiet = {t["alertname"] for t in tested if not t["exp_alerts"]}
    assert firing == alerts and quiet == alerts


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    exprs = [e.replace("$job", "calibd").replace("$instance", ".*") for e in dashboard_exprs()]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"calibd_dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    # and promtool does reject a broken one (the check can fail)
    path.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "x",
                        "rules": [
                            {"record": "x:y", "expr": "sum by (sink (calibd_outbox_backlog)"}
                        ],
                    }
                ]
            }
        )
    )
    assert run(promtool, "check", "rules", str(path)).returncode != 0


def test_the_dashboard_has_the_shape_grafana_imports():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "calibd" and isinstance(dash["schemaVersion"], int)
    variables = {v["name"] for v in dash["templating"]["list"]}
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for p in dash["panels"]:
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]
        assert p["type"] in {"stat", "timeseries"} and p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}"
        for t in p["targets"]:
            used = set(re.findall(r"\$(\w+)", t["expr"]))
            assert used <= variables, (p["title"], used - variables)
    # panels do not overlap
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, p["title"]
        cells |= mine


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (sink) (rate(calibd_messages_total{outcome="done"}[5m])) * 60',
            {"calibd_messages_total"},
        ),
        ("calibd_dead_letters - calibd_dead_letters offset 15m > 0", {"calibd_dead_letters"}),
        ('up{job="calibd"} == 0', {"up"}),
        ("a_sum / b_count", {"a_sum", "b_count"}),
    ],
)
def test_the_name_parser_finds_the_selected_series(expr, names):
    assert metric_names(expr) == names


def test_the_dashboard_and_rules_use_the_watchdog_and_waits_metrics():
    assert {
        "calibd_healthy",
        "calibd_watchdog_ping_age_seconds",
        "calibd_waits_overdue",
        "calibd_consumer_lag",
        "calibd_outbox_backlog",
        "calibd_dead_letters",
    } <= used_names()
