"""IRF products to GADF FITS (HDUs `EFFECTIVE AREA`, `ENERGY DISPERSION`, `PSF`, `BACKGROUND`),
with pyirf's writers, so gammapy's IRF readers open them; the `irf` product's exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from calibd.handler_api import __version__, exporter, product_cards

__all__ = ["export_irf", "write_gadf"]


def write_gadf(arrays: dict[str, np.ndarray], path: Path, header: dict[str, Any]) -> None:
    """Write the IRF arrays of a product (see compute.compute_irfs) to one FITS file."""
    from astropy.io import fits
    from pyirf.io import (
        create_aeff2d_hdu,
        create_background_2d_hdu,
        create_energy_dispersion_hdu,
        create_psf_table_hdu,
    )

    e_true = arrays["true_energy_bins_tev"] * u.TeV
    fov = arrays["fov_offset_bins_deg"] * u.deg
    cards = {k: v for k, v in header.items() if v is not None}
    hdus = [
        fits.PrimaryHDU(header=fits.Header(list(cards.items()))),
        create_aeff2d_hdu(
            arrays["effective_area_m2"] * u.m**2,
            e_true,
            fov,
            extname="EFFECTIVE AREA",
            point_like=True,
            **cards,
        ),
        create_energy_dispersion_hdu(
            arrays["energy_dispersion"],
            e_true,
            arrays["migration_bins"],
            fov,
            point_like=True,
            extname="ENERGY DISPERSION",
            **cards,
        ),
        create_psf_table_hdu(
            arrays["psf_sr-1"] * u.sr**-1,
            e_true,
            arrays["source_offset_bins_deg"] * u.deg,
            fov,
            extname="PSF",
            **cards,
        ),
    ]
    if "background_s-1_mev-1_sr-1" in arrays:
        hdus.append(
            create_background_2d_hdu(
                arrays["background_s-1_mev-1_sr-1"].T / (u.s * u.MeV * u.sr),
                arrays["reco_energy_bins_tev"] * u.TeV,
                arrays["background_fov_offset_bins_deg"] * u.deg,
                extname="BACKGROUND",
                **cards,
            )
        )
    fits.HDUList(hdus).writeto(path, overwrite=True)


@exporter("irf")
def export_irf(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """GADF FITS (`write_gadf`), the product's identity in the primary header."""
    write_gadf(
        arrays,
        path,
        {
            **product_cards(product),
            "PRODID": product["payload"]["production_id"],
            "ZENITH": product["payload"]["zenith_deg"],
            "ALGNAME": product["algorithm"][:68],
            "CREATOR": f"calibd {__version__}",
        },
    )
