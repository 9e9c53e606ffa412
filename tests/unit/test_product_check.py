"""No product with an undeclared NaN or infinity is stored; handlers reading stored products
cope with missing values. Pure checks, then the pipeline on a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from calibd.daemon import load_handlers
from calibd.errors import InvalidProduct
from calibd.product_check import check_product
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.testing import raw_message as raw
from calibd.testing import start_pipeline
from tests.conftest import example

T = datetime(2026, 11, 24, 20, tzinfo=UTC)


def draft(**parts) -> ProductDraft:
    return ProductDraft(product_type="p", valid_from=T, **parts)


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        ({"payload": {"vaod": float("nan")}}, "payload.vaod"),
        ({"payload": {"a": {"b": [1.0, float("inf")]}}}, r"payload.a.b\[1\]"),
        ({"summary": {"x": np.float32("-inf")}}, "summary.x"),
        ({"payload": {"a": np.array([0.0, np.nan])}}, "payload.a"),
        ({"arrays": {"tau": np.array([[1.0, np.nan]])}}, "arrays.tau"),
        ({"arrays": {"z": np.array([1 + 1j, complex(0, np.inf)])}}, "arrays.z"),
    ],
)
def test_undeclared_non_finite_numbers_are_refused_naming_the_path(parts, path):
    with pytest.raises(InvalidProduct, match=f"^p product: {path}: ") as caught:
        check_product(draft(**parts))
    assert caught.value.reason == "invalid_product"


def test_finite_values_and_declared_missing_values_pass():
    check_product(
        draft(
            payload={"n": 3, "ok": True, "s": "nan", "none": None, "v": [1.0, 2.0], "t": T},
            summary={"stability": float("inf")},
            arrays={"tau": np.array([np.nan, 1.0]), "mask": np.zeros(3, bool)},
            missing=["summary.stability", "arrays"],  # a path covers those below it
        )
    )
    check_product(draft(payload={"stats": {"mean": [np.nan]}}, missing=["payload.stats"]))
    with pytest.raises(InvalidProduct, match="payload.statsx"):  # a prefix is not a parent
        check_product(draft(payload={"statsx": np.nan}, missing=["payload.stats"]))


async def start(tmp_path, registry: Registry):
    return await start_pipeline(tmp_path, registry=registry)


async def test_a_product_with_an_undeclared_nan_is_a_dead_letter_not_a_product(tmp_path):
    registry = Registry()

    async def weather(event, ctx):
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="molecular",
                    valid_from=event.data.time,
                    payload={"profile": {"tau": [0.1, float("nan")]}},
                )
            ]
        )

    registry.register("ctao.acada.weather", weather)
    h = await start(tmp_path, registry)
    store, pipeline = h.store, h.pipeline
    try:
        outcome = await pipeline.process(raw(example("ctao.acada.weather")))
        assert (outcome.status, outcome.reason) == ("dead", "invalid_product")
        assert await store.products() == []
        (letter,) = await store.dead_letters()
        assert letter["reason"] == "invalid_product"
        assert (
            "molecular product: payload.profile.tau[1]: nan is not a finite number"
            in (letter["detail"])
        )
        dlq = [r for r in await store.pending_deliveries("kafka", 10) if r.channel == "dlq"]
        assert len(dlq) == 1  # published to the dead-letter channel
    finally:
        await h.stop()


async def test_fram_down_skips_stored_products_with_missing_values(tmp_path):
    """A transparency and a FRAM product whose numbers are stored null (declared missing, or
    made before this check): the fallback chain passes over them to the seasonal default."""
    registry = load_handlers(["calibd.handlers"])

    async def legacy_rates(event, ctx):
        summary = {"ctc": float("nan"), "ctc_err": None, "too_few_telescopes": False}
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="cherenkov_transparency",
                    valid_from=T - timedelta(hours=1),
                    valid_to=T + timedelta(hours=12),
                    summary=summary,
                    missing=["summary.ctc"],
                )
            ]
        )

    async def legacy_fram(event, ctx):
        summary = {"method": "fram", "vaod": float("nan"), "vaod_err": float("nan")}
        summary["reference_wavelength_nm"] = 400.0
        return HandlerResult(
            products=[
                ProductDraft(
                    product_type="aerosol_extinction",
                    valid_from=T - timedelta(hours=2),
                    summary=summary,
                    payload=summary,
                    missing=["summary", "payload"],
                )
            ]
        )

    registry.register("ctao.acada.trigger_rates", legacy_rates, name="legacy", replace=True)
    registry.register("ctao.acada.fram_data", legacy_fram, name="legacy_fram", replace=True)
    h = await start(tmp_path, registry)
    store, pipeline = h.store, h.pipeline
    try:
        for kind in ("ctao.acada.trigger_rates", "ctao.acada.fram_data"):
            assert (await pipeline.process(raw(example(kind)))).status == "done"
        stored = await store.products(product_type="aerosol_extinction")
        assert stored[0]["summary"]["vaod"] is None  # NaN stored as null
        outcome = await pipeline.process(raw(example("ctao.acada.fram_down")))
        assert outcome.status == "done", outcome.reason
        product = await store.product(outcome.product_ids[0])
        assert product["payload"]["method"] == "seasonal"
        assert product["payload"]["methods_without_input"] == ["ctc", "last_fram"]
    finally:
        await h.stop()


async def test_fram_undefined_stability_is_declared_and_tiny_errors_are_bad_input(tmp_path):
    """The real FRAM handler: a night cleaner than the stratospheric model with scatter has
    an undefined stability (inf, declared missing, stored null); aod_err = 1e-300 overflows
    the inverse-variance weights and is refused naming aod_err, before any product."""
    h = await start_pipeline(tmp_path)
    store, pipeline = h.store, h.pipeline
    try:
        clean = example("ctao.acada.fram_data")
        for m, aod in zip(
            clean["data"]["measurements"], (0.0001, 0.004, 0.0001, 0.004), strict=True
        ):
            m["aod"], m["aod_err"] = aod, 0.0002
        outcome = await pipeline.process(raw(clean))
        assert outcome.status == "done", outcome.reason
        product = await store.product(outcome.product_ids[0])
        assert product["payload"]["stability_defined"] is False
        assert product["summary"]["stability"] is None and product["payload"]["vaod"] < 0

        tiny = example("ctao.acada.fram_data")
        for m in tiny["data"]["measurements"]:
            m["aod_err"] = 1e-300
        outcome = await pipeline.process(raw(tiny))
        assert (outcome.status, outcome.reason) == ("dead", "bad_input")
        letter = (await store.dead_letters())[0]
        assert "FRAM aod_err: values down to 1e-300 are too small" in letter["detail"]
        assert len(await store.products(product_type="aerosol_extinction")) == 1
        # the next FRAM-down of that night is served (by the good product)
        down = await pipeline.process(raw(example("ctao.acada.fram_down")))
        assert down.status == "done", down.reason
    finally:
        await h.stop()
