"""The exporter registry: a general exporter per product type, and exporters for a file
suffix that get the product's series (calibd/extensions.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from calibd import extensions
from calibd.arrays import load_arrays
from calibd.errors import ConfigurationError
from calibd.extensions import SuffixExporter, exporter, find_exporter
from calibd.registry import HandlerResult, ProductDraft, Registry
from calibd.testing import envelope, running_pipeline


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    monkeypatch.setattr(extensions, "EXPORTERS", {})
    monkeypatch.setattr(extensions, "SUFFIX_EXPORTERS", {})


def test_the_suffixs_exporter_wins_over_the_general_one_longest_suffix_first():
    def general(product, arrays, path): ...
    def h5(job): ...
    def fits_gz(job): ...

    exporter("t")(general)
    exporter("t", suffix=".h5", series=lambda p: p["summary"].get("block"))(h5)
    exporter("t", suffix=".fits.gz")(fits_gz)
    assert find_exporter("t", Path("out.fits")) is general
    found = find_exporter("t", Path("dir.h5/OUT.H5"))
    assert isinstance(found, SuffixExporter) and found.fn is h5
    assert found.series({"summary": {"block": "tel1:sb1:ob2"}}) == "tel1:sb1:ob2"
    assert find_exporter("t", Path("a.fits.gz")).fn is fits_gz
    assert find_exporter("other", Path("a.h5")) is None


def test_misregistrations_are_refused():
    def one(job): ...
    def two(job): ...

    exporter("t", suffix=".h5")(one)
    exporter("t", suffix=".h5")(one)  # the same function again: fine
    with pytest.raises(ConfigurationError, match="already has a .h5 exporter"):
        exporter("t", suffix=".H5")(two)
    with pytest.raises(ConfigurationError, match="must start with a dot"):
        exporter("t", suffix="h5")
    with pytest.raises(ConfigurationError, match="a series needs a suffix"):
        exporter("t", series=lambda p: None)


def _draft(block: str, minute: int, category: str = "B", tel_id: int = 1) -> ProductDraft:
    return ProductDraft(
        product_type="t",
        tel_id=tel_id,
        category=category,
        valid_from=datetime(2026, 1, 1, 22, minute, tzinfo=UTC),
        summary={"block": block},
        arrays={"x": np.arange(3.0) + minute},
    )


async def test_the_series_is_the_valid_products_of_the_same_key_type_telescope_category(tmp_path):
    """On a real store: products committed by the pipeline, one message each."""
    from calibd.product_export import _export_series

    drafts = [
        _draft("k", 5),
        _draft("k", 0),
        _draft("other", 1),
        _draft("k", 2, category="C"),
        _draft("k", 3, tel_id=2),
    ]
    registry = Registry()

    async def make(event, ctx):
        return HandlerResult(products=[drafts[int(event.subject)]])

    registry.register("ctao.acada.weather", make)
    async with running_pipeline(tmp_path, registry=registry) as h:
        ids = []
        for i in range(len(drafts)):
            outcome = await h.process({**envelope("ctao.acada.weather"), "subject": str(i)})
            ids.append(outcome.product_ids[0])
        asked = await h.store.product(ids[0])
        entry = SuffixExporter(lambda job: None, series=lambda p: p["summary"].get("block"))
        arrays = load_arrays(asked.pop("arrays"))
        series = await _export_series(h.store, asked, arrays, entry)
        assert [p["id"] for p, _ in series] == [ids[1], ids[0]]  # by validity start
        assert series[1][0] is asked and series[0][1]["x"][0] == 0.0
        alone = SuffixExporter(lambda job: None)  # no key: the product alone
        assert await _export_series(h.store, asked, arrays, alone) == [(asked, arrays)]
        # a superseded product (not among the valid ones) has no series
        newer = _draft("k", 0)
        newer.supersedes = [ids[1]]
        drafts.append(newer)
        await h.process({**envelope("ctao.acada.weather"), "subject": str(len(drafts) - 1)})
        gone = await h.store.product(ids[1])
        assert await _export_series(h.store, gone, {}, entry) is None
