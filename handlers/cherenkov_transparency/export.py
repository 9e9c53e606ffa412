"""FITS export of the `cherenkov_transparency` product."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibd.handler_api import exporter, product_cards

__all__ = ["PRODUCT", "export_transparency"]

PRODUCT = "cherenkov_transparency"


@exporter(PRODUCT)
def export_transparency(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """FITS: table TRANSPARENCY, one row per telescope; the array's CTC in the header."""
    import astropy.units as u
    from astropy.table import QTable

    table = QTable({k: arrays[k] for k in arrays})
    if "rate_zenith_hz" in table.colnames:
        table["rate_zenith_hz"].unit = u.Hz
    payload = product["payload"]
    table.meta.update(
        {
            "EXTNAME": "TRANSPARENCY",
            **product_cards(product),
            "CTC": payload["ctc"],
            "CTC_ERR": payload["ctc_err"],
            "N_TEL": payload["n_telescopes"],
            "FEWTELS": payload["too_few_telescopes"],
        }
    )
    table.write(path, format="fits", overwrite=True)
