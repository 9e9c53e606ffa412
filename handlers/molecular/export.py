"""FITS export of the `molecular_extinction` product."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibd.handler_api import exporter, product_cards

__all__ = ["export_molecular"]


@exporter("molecular_extinction")
def export_molecular(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """FITS: a PROFILE table (altitude, P, T, density) and an OPTICAL_DEPTH table (wavelength,
    tau to the top), units in the headers."""
    import astropy.units as u
    from astropy.io import fits
    from astropy.table import QTable

    profile = QTable(
        {
            "altitude": arrays["altitude_m"] * u.m,
            "pressure": arrays["pressure_hpa"] * u.hPa,
            "temperature": arrays["temperature_k"] * u.K,
            "number_density": arrays["number_density_cm3"] * u.cm**-3,
        }
    )
    depth = QTable(
        {"wavelength": arrays["wavelength_nm"] * u.nm, "tau_vertical": arrays["tau"][:, -1] * u.one}
    )
    hdus = [
        fits.PrimaryHDU(header=fits.Header(list(product_cards(product).items()))),
        fits.table_to_hdu(profile),
        fits.table_to_hdu(depth),
    ]
    hdus[1].name, hdus[2].name = "PROFILE", "OPTICAL_DEPTH"
    fits.HDUList(hdus).writeto(path, overwrite=True)
