"""The metric names calibd's shipped Grafana dashboard and Prometheus alert rules use, and
the names a /metrics exposition declares."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "ops" / "grafana" / "calibd.json"
ALERTS = REPO / "ops" / "prometheus" / "calibd-alerts.yml"
ALERT_TESTS = REPO / "ops" / "prometheus" / "calibd-alerts.test.yml"
#: series Prometheus itself makes for every scrape target
SYNTHETIC = {"up"}

_FUNCTIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "by",
    "without",
    "rate",
    "increase",
    "delta",
    "deriv",
    "and",
    "or",
    "unless",
    "offset",
    "label_values",
    "min_over_time",
    "max_over_time",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
}


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (label matchers, strings and numbers dropped)."""
    bare = re.sub(r'"[^"]*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "{}", bare)
    bare = re.sub(r"\[[^\]]*\]", "[]", bare)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\b\d+(\.\d+)?(ms|[smhdwy])?\b", "", bare)  # numbers and durations
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare))
    return names - _FUNCTIONS


def used_names() -> set[str]:
    return {n for e in dashboard_exprs() + alert_exprs() for n in metric_names(e)}


def exposed_names(exposition: str) -> set[str]:
    """Every series name a Prometheus text exposition declares (a summary's _sum and _count)."""
    names = set()
    for kind_line in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.M):
        name, kind = kind_line
        names.add(name)
        if kind in ("summary", "histogram"):
            names |= {f"{name}_sum", f"{name}_count"}
    return names
