"""The FRAM-down fallback chain's methods on their own (no store, no pipeline): the estimate
from a transparency product, from the last FRAM product, and the seasonal default."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from calibd.handlers.aerosol.fallback import FramDownConfig, from_ctc, from_last_fram, seasonal

START = datetime(2026, 7, 10, 21, 0, tzinfo=UTC)
CFG = FramDownConfig()


def ctc_product(**summary) -> dict:
    return {"id": "ctc-1", "summary": {"ctc": 0.9, "ctc_err": 0.01, **summary}}


def fram_product(pid: str, hours_before: float, **summary) -> dict:
    valid_from = (START - timedelta(hours=hours_before)).isoformat(timespec="microseconds")
    values = {"method": "fram", "vaod": 0.04, "vaod_err": 0.005, "reference_wavelength_nm": 400.0}
    return {"id": pid, "valid_from": valid_from, "summary": {**values, **summary}}


def test_the_transparency_estimate_and_when_it_is_not_used():
    estimate, warning = from_ctc(ctc_product(mean_zenith_deg=30.0), CFG)
    cos_z = math.cos(math.radians(30.0))
    assert warning is None and estimate["inputs"] == ["ctc-1"]
    assert estimate["vaod"] == pytest.approx(CFG.ctc_reference_vaod - math.log(0.9) * cos_z)
    assert estimate["vaod_err"] == pytest.approx(math.hypot(0.01 / 0.9 * cos_z, 0.02))
    assert from_ctc(None, CFG) == (None, None)
    assert from_ctc(ctc_product(too_few_telescopes=True), CFG) == (None, None)
    estimate, warning = from_ctc(ctc_product(ctc=None), CFG)
    assert estimate is None and warning[1] == {"product": "ctc-1"}
    estimate, warning = from_ctc(ctc_product(ctc=250.0), CFG)
    assert estimate is None and warning[1] == {"ctc": 250.0, "max": CFG.ctc_max}


def test_the_newest_usable_fram_product_within_the_age_limit_stands_in():
    products = [
        fram_product("old", 30.0),  # older than last_fram_max_age_h (24 h)
        fram_product("fallback", 1.0, method="ctc"),
        fram_product("unusable", 2.0, vaod=None),  # a missing value stored as null
        fram_product("newest", 5.0),
        fram_product("older", 10.0),
    ]
    estimate = from_last_fram(products, START, CFG)
    assert estimate["inputs"] == ["newest"]
    assert estimate["vaod"] == pytest.approx(0.04)
    assert estimate["vaod_err"] == pytest.approx(math.hypot(0.005, 5.0 * 0.001))
    assert from_last_fram(products[:3], START, CFG) is None


def test_the_seasonal_default_of_the_month_and_an_unknown_site():
    estimate = seasonal("CTAO-North", START, CFG)
    assert estimate["vaod"] == CFG.seasonal_vaod["CTAO-North"][6]
    assert estimate["vaod_err"] == CFG.seasonal_systematic and estimate["inputs"] == []
    assert seasonal("Elsewhere", START, CFG) is None
