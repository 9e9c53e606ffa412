"""FITS export of the `aerosol_extinction` product (FRAM and FRAM-down fallbacks alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from calibd.handlers.aerosol.aerosol import AEROSOL_PRODUCT

from calibd.handler_api import exporter, product_cards

__all__ = ["export_aerosol"]


@exporter(AEROSOL_PRODUCT)
def export_aerosol(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """FITS: table AEROSOL_EXTINCTION (wavelength [nm], tau, tau_err), method in the header;
    for FRAM products also table MEASUREMENTS (time [d, MJD], zenith, wavelength, VAOD)."""
    import astropy.units as u
    from astropy.io import fits
    from astropy.table import QTable

    table = QTable(
        {
            "wavelength": arrays["wavelength_nm"] * u.nm,
            "tau": arrays["tau"],
            "tau_err": arrays["tau_err"],
        }
    )
    payload = product["payload"]
    table.meta.update(
        {
            "EXTNAME": "AEROSOL_EXTINCTION",
            **product_cards(product),
            "METHOD": payload["method"],
            "VAOD": payload["vaod"],
            "VAOD_ERR": payload["vaod_err"],
            "REFWAVE": (payload["reference_wavelength_nm"], "[nm] reference wavelength"),
            "ANGSTROM": payload["angstrom_alpha"],
        }
    )
    hdus = [fits.PrimaryHDU(), fits.table_to_hdu(table)]
    if "measurement_time_mjd" in arrays:
        meas = QTable(
            {k.removeprefix("measurement_"): v for k, v in arrays.items() if "measurement_" in k}
        )
        meas["time_mjd"].unit = u.d
        meas["zenith_deg"].unit = meas["wavelength_nm"].unit = None
        meas.meta["EXTNAME"] = "MEASUREMENTS"
        hdus.append(fits.table_to_hdu(meas))
    fits.HDUList(hdus).writeto(path, overwrite=True)
