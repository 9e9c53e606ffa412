"""FITS export of the `optical_throughput_muon` product."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibd.handler_api import exporter, product_cards

__all__ = ["export_muon"]


@exporter("optical_throughput_muon")
def export_muon(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """FITS: one row per chunk (table THROUGHPUT), times as MJD."""
    import astropy.units as u
    from astropy.table import QTable

    table = QTable(
        {
            k: arrays[k]
            for k in ("time_start_mjd", "time_end_mjd", "n_events", "mean", "median", "std", "sem")
        }
    )
    table["time_start_mjd"].unit = table["time_end_mjd"].unit = u.d
    table.meta.update(
        {
            "EXTNAME": "THROUGHPUT",
            "TEL_ID": product["tel_id"],
            **product_cards(product),
        }
    )
    table.write(path, format="fits", overwrite=True)
