"""The exporter registry: a general exporter per product type, and exporters for a file
suffix that get the product's series (calibd/extensions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibd import extensions
from calibd.errors import ConfigurationError
from calibd.extensions import SuffixExporter, exporter, find_exporter


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


class FakeStore:
    """The two store calls the series lookup makes."""

    def __init__(self, rows):
        self.rows = rows

    async def products(self, *, product_type, tel_id, limit):
        return [r for r in self.rows if (r["product_type"], r["tel_id"]) == (product_type, tel_id)]

    async def product(self, product_id):
        (row,) = [r for r in self.rows if r["id"] == product_id]
        return {**row, "arrays": None}


def _row(id_, block, valid_from, category="B", tel_id=1):
    return {
        "id": id_,
        "product_type": "t",
        "tel_id": tel_id,
        "category": category,
        "valid_from": valid_from,
        "summary": {"block": block},
    }


async def test_the_series_is_the_valid_products_of_the_same_key_type_telescope_category():
    from calibd.cli_commands import _export_series

    rows = [
        _row("b", "k", "2026-01-01T22:05:00+00:00"),
        _row("a", "k", "2026-01-01T22:00:00+00:00"),
        _row("c", "other", "2026-01-01T22:01:00+00:00"),
        _row("d", "k", "2026-01-01T22:02:00+00:00", category="C"),
        _row("e", "k", "2026-01-01T22:03:00+00:00", tel_id=2),
    ]
    entry = SuffixExporter(lambda job: None, series=lambda p: p["summary"].get("block"))
    asked = rows[0]
    series = await _export_series(FakeStore(rows), asked, {"x": 1}, entry)
    assert [p["id"] for p, _ in series] == ["a", "b"]  # by validity start
    assert series[1] == (asked, {"x": 1})
    # a superseded product (not among the valid ones) has no series
    gone = _row("z", "k", "2026-01-01T21:00:00+00:00")
    assert await _export_series(FakeStore(rows), gone, {}, entry) is None
    # no key: the product alone
    alone = SuffixExporter(lambda job: None)
    assert await _export_series(FakeStore(rows), asked, {}, alone) == [(asked, {})]
