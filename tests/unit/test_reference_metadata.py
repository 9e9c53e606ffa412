"""Exported products carry ctao-datamodel reference metadata (keywords of ctao-datamodel 1.4's
FITS mapping; checked by hand with ctao_datamodel.fits_header_to_instance on Python 3.12)."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from calibd.daemon import load_handlers
from calibd.extensions import EXPORTERS
from calibd.reference_metadata import reference_cards

PRODUCT = {
    "id": "01a23bee-22e7-74a4-b189-df850534f389",
    "product_type": "optical_throughput_muon",
    "tel_id": 3,
    "category": "C",
    "valid_from": "2026-11-24T20:30:00.000000Z",
    "valid_to": "2026-11-24T21:30:00.000000Z",
    "created_at": "2026-12-03T12:43:07.822000Z",
    "algorithm": "muon-ring-sigma-clipped",
    "algorithm_version": "1",
    "config_hash": "ab" * 32,
    "payload": {"obs_id": 2000000300},
    "provenance": {
        "handler": "muon_throughput",
        "started_at": "2026-12-03T12:43:07.100000Z",
        "finished_at": "2026-12-03T12:43:07.800000Z",
    },
}


def test_the_reference_keywords_of_a_product():
    cards = reference_cards(PRODUCT)
    assert cards["CTAOMETA"] == "2.1.0"
    assert (cards["DATALEVL"], cards["DATADIV"], cards["DATAASSO"], cards["DATATYPE"]) == (
        "DL1",
        "Monitoring",
        "Telescope",
        "Calibration",
    )
    assert (cards["DATAID"], cards["DATACAT"], cards["AE_ID"]) == (PRODUCT["id"], "C", 3)
    assert cards["OBS_ID"] == 2000000300 and cards["AE_CLASS"] == "TEL"
    assert cards["HIERARCH CTAO CURATION VALID_FROM"] == "2026-11-24T20:30:00.000000000"
    assert cards["HIERARCH CTAO CURATION VALID_TO"] == "2026-11-24T21:30:00.000000000"
    assert cards["CREATED"] == "2026-12-03T12:43:07.822000000"
    assert (cards["ACTPROC"], cards["ACTIVITY"]) == ("data_processing", "muon_throughput")
    assert cards["ACTSTART"] < cards["ACTSTOP"] and cards["SOFTWARE"] == "calibd"
    assert len(cards["ACTCONF"]) <= 68 and all(len(str(v)) <= 68 for v in cards.values())
    array = reference_cards({**PRODUCT, "product_type": "aerosol_extinction", "tel_id": None})
    assert array["DATAASSO"] == "Array" and array["DATATYPE"] == "ContemporaryAtmosphere"
    assert "AE_ID" not in array


def test_an_exported_file_carries_them(tmp_path):
    load_handlers(["calibd.handlers"])
    arrays = {
        k: np.array([1.0, 2.0])
        for k in ("time_start_mjd", "time_end_mjd", "n_events", "mean", "median", "std", "sem")
    }
    path = tmp_path / "muon.fits"
    EXPORTERS["optical_throughput_muon"](PRODUCT, arrays, path)
    header = fits.getheader(path, "THROUGHPUT")
    for key, value in reference_cards(PRODUCT).items():
        assert header[key.removeprefix("HIERARCH ")] == value, key
