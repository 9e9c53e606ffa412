"""Reprocessing to Cat-C (supersedes, idempotent, skips changed inputs) and reproduction."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
from calibd.handlers.reprocess import reprocess_request
from pydantic import BaseModel

from calibd.config import load_settings
from calibd.pipeline import Pipeline
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.reproduce import reproduce
from calibd.sources.base import RawMessage
from calibd.store import Store
from tests.conftest import example


class CalcConfig(BaseModel):
    scale: float = 1.0


def compute(path: str, scale: float) -> np.ndarray:
    """Runs in a worker process."""
    return np.frombuffer(open(path, "rb").read(), dtype=np.uint8).astype(np.float64) * scale


def registry() -> Registry:
    reg = Registry()

    async def calc(event, ctx):
        path = await ctx.resolve_file(event.data.files[0])
        values = await ctx.run_cpu(compute, str(path), ctx.config.scale)
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="calc",
                    tel_id=event.data.tel_id,
                    valid_from=event.data.run_start,
                    payload={"scale": ctx.config.scale, "sum": float(values.sum())},
                    arrays={"values": values},
                )
            ]
        )

    reg.register("ctao.acada.pedestal_run", calc, name="calc", config=CalcConfig)
    reg.register("ctao.calibpipe.reprocess_request", reprocess_request, name="reprocess")
    return reg


def run_event(root, name: str, content: bytes, start: str) -> dict:
    (root / name).write_bytes(content)
    return example(
        "ctao.acada.pedestal_run",
        run_start=start,
        run_end=None,
        files=[{"uri": name, "sha256": hashlib.sha256(content).hexdigest()}],
    )


async def process(pipeline, env):
    raw = RawMessage("test", "t", f"k:{env['id']}", json.dumps(env).encode())
    return await pipeline.process(raw)


def reprocess_env() -> dict:
    return example(
        "ctao.calibpipe.reprocess_request",
        time_start="2026-11-01T00:00:00Z",
        time_end="2026-12-01T00:00:00Z",
        product_types=["calc"],
        tel_ids=None,
    )


async def test_reprocessing_makes_superseding_cat_c_once_and_products_reproduce(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    settings = load_settings(
        None,
        {
            "data_dir": str(tmp_path),
            "data_roots": [str(root)],
            "pipeline": {"workers": 1},
            "handlers": {"calc": {"scale": 1.0}},
            "profiles": {"C": {"calc": {"scale": 2.0}}},
        },
    )
    store = await Store(settings.database_path).open()
    pipeline = Pipeline(settings, store, registry(), sinks=("kafka",))
    await pipeline.start()
    try:
        first = await process(
            pipeline, run_event(root, "a.dat", b"\x01\x02\x03", "2026-11-24T21:00:00Z")
        )
        second = await process(
            pipeline, run_event(root, "b.dat", b"\x05\x05", "2026-11-25T21:00:00Z")
        )
        b1, b2 = first.product_ids[0], second.product_ids[0]
        assert (await reproduce(pipeline, b1))["status"] == "identical"

        (root / "b.dat").write_bytes(b"\x06\x06")  # b.dat changed since: skip, do not redo
        outcome = await process(pipeline, reprocess_env())
        assert outcome.status == "done"
        await process(pipeline, reprocess_env())  # same request again: nothing new

        rows = await store.pending_deliveries("kafka", 100)
        reports = [json.loads(r.envelope)["data"] for r in rows if r.channel == "reports"]
        first_run, second_run = (r["details"] for r in reports)
        assert [r["replaced"] for r in first_run["redone"]] == [[b1]]
        assert "b.dat: sha256 mismatch" in first_run["skipped"][0]["reason"]
        assert second_run["redone"] == []
        assert {s["reason"].split(":")[0] for s in second_run["skipped"]} == {
            "already reprocessed (Cat-C exists)",
            "input changed or missing",
        }

        (c_id,) = first_run["redone"][0]["new_product_ids"]
        c = await store.product(c_id)
        assert (c["category"], c["payload"]["scale"], c["payload"]["sum"]) == ("C", 2.0, 12.0)
        old = await store.product(b1)
        assert (old["status"], old["superseded_by"]) == ("superseded", c_id)
        best = await store.best_product("calc", 1, datetime(2026, 11, 24, 22, tzinfo=UTC))
        assert best["id"] == c_id
        assert len(await store.products(product_type="calc", include_superseded=True)) == 3

        assert (await reproduce(pipeline, c_id))["status"] == "identical"  # Cat-C profile
        changed = await reproduce(pipeline, b2)
        assert changed["status"] == "not_reproducible" and "sha256 mismatch" in changed["reason"]
    finally:
        await pipeline.stop()
        await store.close()
