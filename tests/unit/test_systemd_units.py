"""The systemd units: the template for several instances on one host is the single unit with
the instance's name, configuration and state, and the same hardening."""

from __future__ import annotations

from pathlib import Path

UNITS = Path(__file__).resolve().parents[2] / "systemd"


def directives(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_the_template_runs_a_named_instance_with_its_own_configuration_and_state():
    single, template = directives("calibd.service"), directives("calibd@.service")
    assert template["Environment"] == [
        "CALIBD_INSTANCE=%i",
        "NUMBA_CACHE_DIR=%C/calibd/%i/numba",
    ]
    assert single["Environment"] == ["NUMBA_CACHE_DIR=%C/calibd/numba"]
    assert template["CacheDirectory"] == ["calibd/%i"] and single["CacheDirectory"] == ["calibd"]
    assert "MemoryDenyWriteExecute" not in single  # numba compiles at run time
    assert template["ExecStart"] == ["/opt/calibd/venv/bin/calibd --config /etc/calibd/%i.toml run"]
    assert template["StateDirectory"] == ["calibd/%i"]
    assert template["ReadWritePaths"] == ["/var/lib/calibd/%i"]
    differs = {
        "Description",
        "Environment",
        "ExecStart",
        "StateDirectory",
        "CacheDirectory",
        "ReadWritePaths",
    }
    same = {k: v for k, v in single.items() if k not in differs}
    assert same == {k: v for k, v in template.items() if k not in differs}  # hardening too
    assert "NoNewPrivileges" in same and same["Type"] == ["notify"]


def test_the_instance_setting_comes_from_the_environment(monkeypatch, tmp_path):
    from calibd.config import load_settings

    monkeypatch.setenv("CALIBD_INSTANCE", "calibd-b")
    settings = load_settings(overrides={"data_dir": str(tmp_path)})
    assert settings.instance == "calibd-b"
    assert settings.source_uri == "ctao.calibpipe/calibd-b"
