"""QualPipe verdicts are stored with the validity of the product they judge."""

from __future__ import annotations

from calibd.config import load_settings
from calibd.daemon import load_handlers
from calibd.pipeline import Pipeline
from calibd.reproduce import reproduce
from calibd.store import Completion, Store
from calibd.testing import raw_message
from tests.conftest import example
from tests.store_contract.records import product


async def test_assessment_takes_the_validity_of_the_assessed_product(tmp_path):
    registry = load_handlers(["calibd.handlers"])
    settings = load_settings(None, {"data_dir": str(tmp_path)})
    async with Store(settings.database_path) as store:
        judged = product(
            "p-judged", "B", "2026-11-24T21:06:00.000000Z", "2026-11-25T06:00:00.000000Z"
        )
        await store.commit(
            [Completion(status="done", transport="t", source="s", event_id="e", products=[judged])]
        )
        pipeline = Pipeline(settings, store, registry)
        await pipeline.start()
        try:
            known = example("ctao.qualpipe.assessment", product_id="p-judged")
            unknown = example(
                "ctao.qualpipe.assessment", product_id="nowhere", verdict="unacceptable"
            )
            outcomes = [await pipeline.process(raw_message(env)) for env in (known, unknown)]
            # reproducible from provenance, seeing the database as it stood then
            for outcome in outcomes:
                redo = await reproduce(pipeline, outcome.product_ids[0])
                assert redo["status"] == "identical", redo
        finally:
            await pipeline.stop()
        a = await store.product(outcomes[0].product_ids[0])
        b = await store.product(outcomes[1].product_ids[0])
    assert (a["valid_from"], a["valid_to"], a["tel_id"]) == (judged.valid_from, judged.valid_to, 1)
    assert a["payload"]["verdict"] == "acceptable" and a["payload"]["product_known"] is True
    assert b["payload"]["product_known"] is False and b["summary"]["verdict"] == "unacceptable"
