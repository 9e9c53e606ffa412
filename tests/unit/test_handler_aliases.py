"""A renamed handler's former names (`aliases=`) keep working for its settings, deprecated:
in the settings file, the environment, category profiles, run-time config changes and
`config_changes.allowed_sources`, each mapped to the new key with a warning naming both."""

from __future__ import annotations

import io
import json

import pytest
from calibd.handlers.config_change import config_change
from pydantic import BaseModel, Field

from calibd.config import load_settings
from calibd.errors import ConfigurationError
from calibd.logs import configure_logging
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.runtime_config import RuntimeConfig
from calibd.testing import outgoing, raw_message, running_pipeline
from tests.conftest import example


class ProbeConfig(BaseModel):
    threshold: float = Field(default=1.0, gt=0)


async def _probe(event, ctx):
    return HandlerResult(
        products=[
            ProductDraft(
                product_type="probe",
                valid_from=event.data.time,
                payload={"threshold": ctx.config.threshold},
            )
        ]
    )


def registry() -> Registry:
    reg = Registry()
    reg.register(
        "ctao.acada.weather", _probe, name="probe_new", config=ProbeConfig, aliases=["probe_old"]
    )
    reg.register("ctao.calibpipe.config_change", config_change, name="config_change")
    return reg


@pytest.fixture
def warnings():
    """The "deprecated config key" warnings logged during the test, as (key, new_key)."""
    out = io.StringIO()
    configure_logging("json", "info", out)

    def read() -> list[tuple[str, str]]:
        lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
        return [
            (r["key"], r["new_key"])
            for r in lines
            if r.get("msg") == "deprecated config key" and r.get("level") == "warning"
        ]

    yield read
    configure_logging("json", "info")


def threshold(runtime: RuntimeConfig, category: str = "B") -> float:
    return runtime.current.handler_config("probe_new", category).threshold


def test_the_registry_knows_former_names_and_refuses_clashes():
    reg = registry()
    assert reg.by_name("probe_old") is reg.by_name("probe_new") is not None
    assert reg.aliases() == {"probe_old": "probe_new"}
    with pytest.raises(ConfigurationError, match="alias 'probe_old' is already taken"):
        reg.register("ctao.acada.trigger_rates", _probe, name="other", aliases=["probe_old"])
    with pytest.raises(ConfigurationError, match="name 'probe_old' is already taken"):
        reg.register("ctao.acada.trigger_rates", _probe, name="probe_old")
    with pytest.raises(ConfigurationError, match="its own name as an alias"):
        reg.register("ctao.acada.trigger_rates", _probe, name="x", aliases=["x"])


def test_a_former_name_in_the_settings_file_is_mapped_with_a_warning(tmp_path, warnings):
    toml = tmp_path / "calibd.toml"
    toml.write_text(
        "[handlers.probe_old]\nthreshold = 2.5\n[profiles.C.probe_old]\nthreshold = 4\n"
    )
    runtime = RuntimeConfig(load_settings(toml, {"data_dir": str(tmp_path)}), registry())
    assert (threshold(runtime), threshold(runtime, "C")) == (2.5, 4.0)
    assert runtime.baseline["handlers"] == {"probe_new": {"threshold": 2.5}}
    assert set(warnings()) == {
        ("handlers.probe_old", "handlers.probe_new"),
        ("profiles.C.probe_old", "profiles.C.probe_new"),
    }


def test_a_former_name_in_the_environment_is_mapped_and_the_new_key_wins(
    tmp_path, monkeypatch, warnings
):
    monkeypatch.setenv("CALIBD_HANDLERS__PROBE_OLD__THRESHOLD", "3.5")
    runtime = RuntimeConfig(load_settings(None, {"data_dir": str(tmp_path)}), registry())
    assert threshold(runtime) == 3.5
    assert warnings() == [("handlers.probe_old", "handlers.probe_new")]
    both = {"data_dir": str(tmp_path), "handlers": {"probe_new": {"threshold": 7.0}}}
    assert threshold(RuntimeConfig(load_settings(None, both), registry())) == 7.0


async def test_a_run_time_change_of_a_former_key_is_mapped_to_the_new_key(tmp_path, warnings):
    rules = {"allowed_sources": {"ctao.qualpipe/*": ["handlers.probe_old"]}}
    settings = {"config_changes": rules}
    async with running_pipeline(tmp_path, registry=registry(), settings=settings) as h:
        change = example(
            "ctao.calibpipe.config_change",
            changes=[{"key": "handlers.probe_old.threshold", "value": 2.5}],
        )
        change["source"] = "ctao.qualpipe/robot"  # allowed by the former name's prefix
        assert (await h.process(raw_message(change))).status == "done"
        product = await h.store.product(
            (await h.process(example("ctao.acada.weather"))).product_ids[0]
        )
        (report,) = [r["data"] for r in await outgoing(h.store, channel="reports")]
    assert product["payload"]["threshold"] == 2.5
    assert report["details"]["accepted"] is True
    assert [c["key"] for c in report["details"]["changes"]] == ["handlers.probe_new.threshold"]
    assert ("handlers.probe_old.threshold", "handlers.probe_new.threshold") in warnings()
    assert ("handlers.probe_old", "handlers.probe_new") in warnings()  # the allowed prefix
