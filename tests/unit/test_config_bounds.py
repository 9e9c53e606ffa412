"""Every numeric setting has physical bounds, at start-up and at run time alike."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from calibd.config import Settings, load_settings, parse_overrides
from calibd.daemon import load_handlers
from calibd.errors import ConfigurationError

BUILT_IN = load_handlers(["calibd.handlers"])


def unbounded(schema: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    """Dotted paths of numbers without a lower and an upper bound, and of lists of numbers
    without a maximum length, in a JSON Schema (as pydantic writes it)."""
    if "$ref" in schema:
        return unbounded(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path)
    out = []
    for alternative in schema.get("anyOf", []) + schema.get("allOf", []):
        out += unbounded(alternative, defs, path)
    kind = schema.get("type")
    if kind in ("number", "integer"):
        low = "minimum" in schema or "exclusiveMinimum" in schema
        high = "maximum" in schema or "exclusiveMaximum" in schema
        if not (low and high):
            out.append(path)
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            out += unbounded(sub, defs, f"{path}.{name}".lstrip("."))
        if isinstance(schema.get("additionalProperties"), dict):
            out += unbounded(schema["additionalProperties"], defs, f"{path}.<key>")
    elif kind == "array":
        for i, sub in enumerate(schema.get("prefixItems", [])):  # tuples: fixed length
            out += unbounded(sub, defs, f"{path}[{i}]")
        items = schema.get("items")
        if isinstance(items, dict):
            numeric = unbounded(items, defs, f"{path}[]")
            out += numeric
            kinds = {items.get("type")} | {a.get("type") for a in items.get("anyOf", [])}
            if kinds & {"number", "integer"} and "maxItems" not in schema:
                out.append(f"{path} (no maximum length)")
    return out


def models() -> list[tuple[str, type[BaseModel]]]:
    return [("", Settings)] + [(f"handlers.{h.name}", h.config_model) for h in BUILT_IN]


@pytest.mark.parametrize(("prefix", "model"), models(), ids=lambda v: getattr(v, "__name__", v))
def test_every_numeric_setting_has_a_lower_and_an_upper_bound(prefix, model):
    schema = model.model_json_schema()
    assert unbounded(schema, schema.get("$defs", {}), prefix) == []


def test_the_walker_finds_an_unbounded_number():
    class Loose(BaseModel):
        x: float = 1.0
        xs: list[int] = []

    assert unbounded(Loose.model_json_schema(), {}, "") == ["x", "xs[]", "xs (no maximum length)"]


@pytest.mark.parametrize(
    "override",
    [
        "pipeline.max_message_bytes=1e12",
        "pipeline.retry_backoff_s=1000",  # above retry_max_backoff_s (600)
        "operations.shutdown_timeout_s=1e9",
        "outbox.retry_min_s=100",  # above retry_max_s (30)
        "kafka.session_timeout_ms=1e12",
    ],
)
def test_start_up_settings_out_of_bounds_are_refused(override):
    with pytest.raises(ConfigurationError, match=override.split("=")[0].split(".")[0]):
        load_settings(None, parse_overrides([override]))


@pytest.mark.parametrize(
    ("name", "raw", "key"),
    [
        ("molecular", {"top_altitude_m": 1e9}, "handlers.molecular.top_altitude_m"),
        ("molecular", {"wavelengths_nm": [100.0]}, "handlers.molecular.wavelengths_nm.0"),
        ("camera_flatfield", {"ffactor": {"f2": 40}}, "handlers.camera_flatfield.ffactor.f2"),
        ("irf", {"energy_min_tev": 10, "energy_max_tev": 1}, "handlers.irf"),
        ("muon_throughput", {"chunk_size": 10**9}, "handlers.muon_throughput.chunk_size"),
    ],
)
def test_handler_settings_out_of_bounds_name_the_key_and_the_value(name, raw, key):
    with pytest.raises(ConfigurationError) as info:
        BUILT_IN.by_name(name).load_config(raw)
    assert key in str(info.value)


def test_authorisation_rules_name_run_time_keys_only():
    rules = {"config_changes": {"allowed_sources": {"ctao.qualpipe/*": ["kafka.enabled"]}}}
    with pytest.raises(ConfigurationError, match="config_changes.allowed_sources"):
        load_settings(None, rules)
    rules["config_changes"]["allowed_sources"]["ctao.qualpipe/*"] = ["handlers.irf", "*"]
    assert load_settings(None, rules).config_changes.allowed_sources
