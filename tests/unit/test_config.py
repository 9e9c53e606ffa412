"""Settings: layering of sources and one clear error per bad key."""

from __future__ import annotations

import pytest

from calibd.config import load_settings, parse_overrides
from calibd.errors import ConfigurationError


def test_defaults_need_no_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    s = load_settings()
    assert s.database_path == tmp_path / "calibd" / "calibd.sqlite"
    assert not (s.kafka.enabled or s.mqtt.enabled or s.acada_triggers.enabled)
    assert s.effective_data_roots == [(tmp_path / "calibd").resolve()]


def test_toml_then_environment_then_overrides(tmp_path, monkeypatch):
    toml = tmp_path / "calibd.toml"
    toml.write_text(
        'site = "CTAO-South"\n[kafka]\nenabled = true\ngroup_id = "from-toml"\n'
        'bootstrap_servers = "toml:9092"\n[pipeline]\nworkers = 2\n'
    )
    monkeypatch.setenv("CALIBD_KAFKA__GROUP_ID", "from-env")
    s = load_settings(toml, parse_overrides(["pipeline.workers=3"]))
    assert (s.site, s.kafka.enabled, s.kafka.bootstrap_servers) == ("CTAO-South", True, "toml:9092")
    assert s.kafka.group_id == "from-env"
    assert s.pipeline.workers == 3


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("pipeline.workers=0", "pipeline.workers"),
        ("mqtt.port=70000", "mqtt.port"),
        ("kafka.bogus=1", "kafka.bogus"),
        ("site=CTAO-Moon", "site"),
        ("logging.format=xml", "logging.format"),
    ],
)
def test_invalid_values_name_their_key(override, key):
    with pytest.raises(ConfigurationError) as info:
        load_settings(None, parse_overrides([override]))
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert len(lines) == 2 and lines[1].strip().startswith(f"{key}:")


def test_bad_files_and_overrides_are_reported(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("site = ")
    with pytest.raises(ConfigurationError, match="bad.toml"):
        load_settings(bad)
    with pytest.raises(ConfigurationError, match="KEY=VALUE"):
        parse_overrides(["no-equals-sign"])


def test_secret_named_log_fields_and_given_secrets_are_redacted():
    import io

    import structlog

    from calibd.logs import configure_logging
    from calibd.redact import scrub, secret_values

    out = io.StringIO()
    configure_logging("json", "info", out)
    structlog.get_logger().info("connecting", sasl_password="pw-1234", password_file="/run/pw")
    line = out.getvalue()
    assert "pw-1234" not in line and '"sasl_password": "<redacted>"' in line
    assert "/run/pw" in line  # a path to a secret is not a secret
    given = secret_values(
        parse_overrides(["mqtt.password=abc123", 'kafka={"sasl_password": "def456"}']),
        {"CALIBD_MQTT__TOKEN": "ghi789", "CALIBD_SITE": "CTAO-South"},
    )
    assert given == {"abc123", "def456", "ghi789"}
    assert scrub("x abc123 y ghi789", given) == "x <redacted> y <redacted>"
