"""ctao-datamodel reference metadata of an exported product, as FITS header keywords.

The observatory's files carry a `ctao_datamodel.Product` header (CTAOMETA 2.1.0): what the
data are (DATALEVL, DATADIV, DATAASSO, DATATYPE), which instance (DATAID, DATACAT, OBS_ID,
AE_ID), the curation (LICENSE, and the validity as `HIERARCH CTAO CURATION VALID_FROM/TO`,
which has no short keyword), the data model, the contact, and the activity that made them
(ACTPROC, ACTIVITY, ACTID, ACTSTART, ACTSTOP, SOFTWARE, SOFTVER, ACTCONF). ctao-datamodel
needs Python 3.12, so calibd writes the keywords itself (names from ctao-datamodel 1.4's FITS
mapping). The classification of each product type is calibd's choice, in `PRODUCT_CLASSES`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import calibd
from calibd.store import parse_time

__all__ = ["CTAO_METADATA_VERSION", "PRODUCT_CLASSES", "reference_cards"]

CTAO_METADATA_VERSION = "2.1.0"

#: product type -> (DATALEVL, DATADIV, DATAASSO, DATATYPE), ctao-datamodel 1.4 enum values
PRODUCT_CLASSES: dict[str, tuple[str, str, str, str]] = {
    "camera_calibration": ("DL1", "Monitoring", "Telescope", "Calibration"),
    "camera_pedestal": ("DL1", "Monitoring", "Telescope", "Calibration"),
    "optical_throughput_muon": ("DL1", "Monitoring", "Telescope", "Calibration"),
    "aerosol_extinction": ("DL1", "Monitoring", "Array", "ContemporaryAtmosphere"),
    "molecular_extinction": ("DL1", "Monitoring", "Array", "ContemporaryAtmosphere"),
    "cherenkov_transparency": ("DL1", "Monitoring", "Array", "ContemporaryAtmosphere"),
    "irf": ("DL3", "Service", "Array", "GridIRF"),
}
_ACTIVITY_NAMESPACE = uuid.UUID("8d0c3a4e-5b7f-4c1e-9a2d-6f3b1e0c7a91")


def _isot(value: str | datetime | None) -> str | None:
    """ctao-datamodel's time form: ISO 8601 UTC without zone, nanoseconds."""
    if value is None:
        return None
    t = parse_time(value) if isinstance(value, str) else value
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000"


def reference_cards(product: dict[str, Any]) -> dict[str, Any]:
    """The keywords for `product` (a stored product: id, type, category, validity,
    created_at, payload and provenance when present); absent values are left out."""
    kind = product.get("product_type") or "product"
    tel_id = product.get("tel_id")
    level, division, association, datatype = PRODUCT_CLASSES.get(
        kind, ("DL1", "Monitoring", "Telescope" if tel_id is not None else "Array", "Calibration")
    )
    payload = product.get("payload") or {}
    provenance = product.get("provenance") or {}
    obs_id = payload.get("obs_id")
    cards: dict[str, Any] = {
        "CTAOMETA": CTAO_METADATA_VERSION,
        "TITLE": f"CalibPipe {kind} calibration product"[:68],
        "DATALEVL": level,
        "DATADIV": division,
        "DATAASSO": association,
        "DATATYPE": datatype,
        "DATAID": product["id"],
        "DATACAT": product["category"],
        "OBS_ID": obs_id if isinstance(obs_id, int) and not isinstance(obs_id, bool) else None,
        "AE_ID": tel_id,
        "AE_CLASS": "TEL" if tel_id is not None else None,
        "TELESCOP": "CTAO",
        "LICENSE": "CC-BY-SA-4.0",
        "LICENURL": "https://creativecommons.org/licenses/by-sa/4.0/",
        "MODEL": "CTAO CalibPipe calibd products",
        "MODELVER": calibd.__version__,
        "CREATED": _isot(product.get("created_at")),
        "AUTHOR": "CTAO DPPS CalibPipe (calibd)",
        "EMAIL": "computing-dpps-contributors@cta-observatory.org",
        "ORIGIN": "CTAO",
        "ACTPROC": "data_processing",
        "ACTIVITY": provenance.get("handler"),
        "ACTDESC": f"{product.get('algorithm', '')} {product.get('algorithm_version', '')}"[
            :68
        ].strip()
        or None,
        "ACTID": str(uuid.uuid5(_ACTIVITY_NAMESPACE, product["id"])),
        "ACTSTART": _isot(provenance.get("started_at")),
        "ACTSTOP": _isot(provenance.get("finished_at")),
        "SOFTWARE": "calibd",
        "SOFTVER": calibd.__version__,
        "ACTCONF": (product.get("config_hash") or "")[:68] or None,
        "HIERARCH CTAO CURATION VALID_FROM": _isot(product.get("valid_from")),
        "HIERARCH CTAO CURATION VALID_TO": _isot(product.get("valid_to")),
    }
    return {k: v for k, v in cards.items() if v is not None}
