"""The `aerosol_extinction` product shared by the FRAM and FRAM-down handlers.

One product kind for the aerosol extinction of a period, whatever made it: `payload.method`
says which (`fram`, or a FRAM-down fallback: `ctc`, `last_fram`, `seasonal`), `payload.vaod`
and `vaod_err` give the vertical aerosol optical depth at `reference_wavelength_nm`, and the
arrays hold its Angstrom scaling tau(lambda) = tau(lambda0) (lambda / lambda0)^-alpha to the
requested wavelengths (`export` writes it as FITS).
"""

from __future__ import annotations

import numpy as np

__all__ = ["AEROSOL_PRODUCT", "angstrom_table"]

AEROSOL_PRODUCT = "aerosol_extinction"


def angstrom_table(
    vaod: float, vaod_err: float, reference_nm: float, wavelengths_nm: list[float], alpha: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """VAOD scaled to `wavelengths_nm`; the relative uncertainty carries over unchanged."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    scale = (wl / reference_nm) ** -alpha
    return {"wavelength_nm": wl, "tau": vaod * scale}, vaod_err * scale
