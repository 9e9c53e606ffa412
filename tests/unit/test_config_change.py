"""Run-time configuration changes: validated, versioned, recorded in every product."""

from __future__ import annotations

import json
import subprocess
import sys

from calibd.handlers.config_change import config_change
from pydantic import BaseModel, Field

from calibd.config import load_settings
from calibd.pipeline import Pipeline
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.sources.base import RawMessage
from calibd.store import Store
from tests.conftest import example


class ProbeConfig(BaseModel):
    threshold: float = Field(default=1.0, gt=0)


def registry() -> Registry:
    reg = Registry()

    async def probe(event, ctx):
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="probe",
                    valid_from=event.data.time,
                    payload={"threshold": ctx.config.threshold, "category": ctx.category},
                )
            ]
        )

    reg.register("ctao.acada.weather", probe, name="probe", config=ProbeConfig)
    reg.register("ctao.calibpipe.config_change", config_change, name="config_change")
    return reg


def change(*pairs, who="operator on shift") -> dict:
    return example(
        "ctao.calibpipe.config_change",
        requested_by=who,
        changes=[{"key": k, "value": v} for k, v in pairs],
    )


async def run(pipeline, env):
    return await pipeline.process(
        RawMessage("test", "t", f"k:{env['id']}", json.dumps(env).encode())
    )


async def reports(store) -> list[dict]:
    rows = await store.pending_deliveries("kafka", 100)
    return [json.loads(r.envelope)["data"] for r in rows if r.channel == "reports"]


async def test_changes_apply_at_run_time_and_products_record_the_version(tmp_path):
    settings = load_settings(None, {"data_dir": str(tmp_path)})
    store = await Store(settings.database_path).open()
    pipeline = Pipeline(settings, store, registry(), sinks=("kafka",))
    await pipeline.start()
    before = await run(pipeline, example("ctao.acada.weather"))
    accepted = await run(
        pipeline, change(("handlers.probe.threshold", 2.5), ("profiles.C.probe.threshold", 4.0))
    )
    after = await run(pipeline, example("ctao.acada.weather"))
    for bad in [
        ("kafka.enabled", True),
        ("handlers.probe.threshold", -1),
        ("handlers.ghost.threshold", 1),
        ("default_category", "D"),
    ]:
        await run(pipeline, change(bad))
    assert accepted.status == "done"
    p1 = await store.product(before.product_ids[0])
    p2 = await store.product(after.product_ids[0])
    assert (p1["payload"]["threshold"], p1["config_version"]) == (1.0, 1)
    assert (p2["payload"]["threshold"], p2["config_version"]) == (2.5, 2)
    assert json.loads(p2["provenance"]["config"])["config_version"] == 2
    assert p1["config_hash"] != p2["config_hash"]

    replies = await reports(store)
    assert replies[0]["details"]["accepted"] is True and replies[0]["details"]["version"] == 2
    assert replies[0]["details"]["changes"][0] == {
        "key": "handlers.probe.threshold",
        "previous": None,
        "value": 2.5,
    }
    refused = [r["details"]["error"] for r in replies[1:]]
    assert all(r["details"]["accepted"] is False for r in replies[1:])
    assert refused[0].startswith("kafka.enabled: cannot change at run time")
    assert refused[1].startswith("handlers.probe.threshold:")
    assert refused[2].startswith("handlers.ghost: no such handler")
    assert refused[3].startswith("default_category:")
    await pipeline.stop()

    # the change survives a restart without a new version; category profiles apply
    pipeline = Pipeline(settings, store, registry(), sinks=("kafka",))
    await pipeline.start()
    assert pipeline.runtime.current.version == 2
    assert pipeline.runtime.current.handler_config("probe", "C").threshold == 4.0
    assert pipeline.runtime.current.handler_config("probe", "B").threshold == 2.5
    await pipeline.stop()
    history = await store.config_versions()
    assert [h["version"] for h in history] == [2, 1]
    assert (history[0]["requested_by"], history[1]["requested_by"]) == (
        "operator on shift",
        "calibd start-up",
    )
    await store.close()

    cli = [sys.executable, "-m", "calibd", "--data-dir", str(tmp_path), "config"]
    out = subprocess.run([*cli, "history"], capture_output=True, text=True, check=True).stdout
    assert "v2" in out and "handlers.probe.threshold: None -> 2.5" in out
    early = subprocess.run([*cli, "show", "--at", "2000-01-01"], capture_output=True, text=True)
    assert early.returncode == 1 and "no configuration version" in early.stderr


def change_from(source: str, *pairs) -> dict:
    return {**change(*pairs), "source": source}


async def dead_letters(store) -> list[dict]:
    return await store.dead_letters(100, None)


async def test_who_may_change_what_is_configured_and_refusals_are_dead_lettered(tmp_path):
    settings = load_settings(
        None,
        {
            "data_dir": str(tmp_path),
            "config_changes": {"allowed_sources": {"ctao.qualpipe/*": ["handlers.probe"]}},
        },
    )
    store = await Store(settings.database_path).open()
    pipeline = Pipeline(settings, store, registry(), sinks=("kafka",))
    await pipeline.start()
    intruder = await run(
        pipeline, change_from("ctao.acada/intruder", ("handlers.probe.threshold", 9.0))
    )
    robot = await run(
        pipeline, change_from("ctao.qualpipe/robot", ("handlers.probe.threshold", 3.0))
    )
    beyond = await run(
        pipeline,
        change_from(
            "ctao.qualpipe/robot", ("handlers.probe.threshold", 4.0), ("default_category", "C")
        ),
    )
    operator = await run(pipeline, change(("default_category", "A")))
    assert (intruder.status, intruder.reason) == ("dead", "config_unauthorised")
    assert (robot.status, beyond.status, beyond.reason) == ("done", "dead", "config_unauthorised")
    assert operator.status == "done"
    letters = {d["event_id"]: d for d in await dead_letters(store)}
    assert (
        "'ctao.acada/intruder' may not change handlers.probe.threshold"
        in (letters[intruder.event_id]["detail"])
    )
    assert "may not change default_category" in letters[beyond.event_id]["detail"]
    assert "handlers.probe" not in letters[beyond.event_id]["detail"]  # that key was allowed
    replies = await reports(store)
    assert [r["details"]["accepted"] for r in replies] == [False, True, False, True]
    assert replies[0]["details"]["reason_code"] == "config_unauthorised"
    current = pipeline.runtime.current
    assert current.handler_config("probe", "B").threshold == 3.0  # only the robot's change
    assert current.default_category == "A" and current.version == 3
    await pipeline.stop()
    await store.close()


async def test_a_change_out_of_bounds_is_refused_and_later_messages_run_as_before(tmp_path):
    """The defect: handlers.molecular.top_altitude_m = 1e9 was accepted; every later weather
    message then took 14 s and was dead-lettered. Now the change is refused at once."""
    from calibd.daemon import load_handlers

    settings = load_settings(None, {"data_dir": str(tmp_path), "pipeline": {"workers": 1}})
    store = await Store(settings.database_path).open()
    pipeline = Pipeline(settings, store, load_handlers(["calibd.handlers"]), sinks=("kafka",))
    await pipeline.start()
    try:
        refused = []
        for pairs in [
            ("handlers.molecular.top_altitude_m", 1e9),
            ("handlers.molecular.step_m", 0.001),
            ("handlers.molecular.wavelengths_nm", [150.0, 400.0]),
            ("profiles.C.camera_flatfield.ffactor.f2", 50),
        ]:
            refused.append(await run(pipeline, change(pairs)))
        weather = await run(pipeline, example("ctao.acada.weather"))
        assert [(r.status, r.reason) for r in refused] == [("dead", "config_rejected")] * 4
        details = [d["detail"] for d in sorted(await dead_letters(store), key=lambda d: d["id"])]
        assert (
            "handlers.molecular.top_altitude_m: Input should be less than or equal to"
            in (details[0])
        )
        assert "(got 1000000000.0)" in details[0]
        assert "handlers.molecular.step_m" in details[1]
        assert "handlers.molecular.wavelengths_nm.0" in details[2]
        assert "profiles.C.camera_flatfield.ffactor.f2: Input should be less than" in details[3]
        assert weather.status == "done"
        product = await store.product(weather.product_ids[0])
        assert product["config_version"] == 1
        assert product["payload"]["top_altitude_m"] == 100_000.0
    finally:
        await pipeline.stop()
        await store.close()


def test_key_prefixes_cover_whole_dotted_parts():
    from calibd.config_rules import covers

    assert covers("handlers.camera", "handlers.camera.ffactor.f2")
    assert covers("handlers.camera.ffactor.f2", "handlers.camera.ffactor.f2")
    assert not covers("handlers.camera", "handlers.camera_flatfield.ffactor.f2")
    assert not covers("handlers.camera.ffactor.f2", "handlers.camera")
    assert covers("*", "default_category")


async def test_a_recorded_change_out_of_the_bounds_is_dropped_at_start_not_fatal(tmp_path):
    """A change accepted before its bound existed (top_altitude_m = 1e9 from an older calibd)
    must not keep calibd from starting: it is dropped, named in a new version, the rest kept."""
    from calibd.config import config_hash
    from calibd.daemon import load_handlers

    settings = load_settings(None, {"data_dir": str(tmp_path), "pipeline": {"workers": 1}})
    store = await Store(settings.database_path).open()
    overlay = {"handlers": {"molecular": {"top_altitude_m": 1e9, "co2_ppm": 430.0}}}
    effective = {"default_category": "B", "handlers": overlay["handlers"], "profiles": {}}
    await store.add_config_version(
        requested_by="an older calibd",
        reason="accepted without bounds",
        event_id="old-change",
        changes=[],
        overlay=overlay,
        effective=effective,
        config_hash=config_hash(effective),
    )
    pipeline = Pipeline(settings, store, load_handlers(["calibd.handlers"]), sinks=("kafka",))
    await pipeline.start()
    try:
        molecular = pipeline.runtime.current.handler_config("molecular", "B")
        assert (molecular.top_altitude_m, molecular.co2_ppm) == (100_000.0, 430.0)
        (latest, _) = await store.config_versions(2)
        assert latest["version"] == 2 and latest["requested_by"] == "calibd start-up"
        assert "handlers.molecular.top_altitude_m = 1000000000.0" in latest["reason"]
        assert "co2_ppm" not in latest["reason"]
        weather = await run(pipeline, example("ctao.acada.weather"))
        assert weather.status == "done"
    finally:
        await pipeline.stop()
        await store.close()
