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
