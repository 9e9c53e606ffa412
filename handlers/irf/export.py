"""IRF products to GADF FITS (HDUs `EFFECTIVE AREA`, `ENERGY DISPERSION`, `PSF`, `BACKGROUND`),
with pyirf's writers, so gammapy's IRF readers open them; the `irf` product's exporter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from calibd.handler_api import __version__, exporter, product_cards

__all__ = ["export_irf", "write_gadf"]


def write_gadf(
    arrays: dict[str, np.ndarray],
    path: Path,
    header: dict[str, Any],
    rad_max_deg: float | None = None,
) -> None:
    """Write the IRF arrays of a product (see compute.compute_irfs) to one FITS file. The
    point-like HDUs carry the theta cut as `RAD_MAX` (deg, GADF), and a `RAD_MAX` HDU holds it
    as a table, so gammapy's DataStore finds it either way."""
    from astropy.io import fits
    from pyirf.io import (
        create_aeff2d_hdu,
        create_background_2d_hdu,
        create_energy_dispersion_hdu,
        create_psf_table_hdu,
        create_rad_max_hdu,
    )

    e_true = arrays["true_energy_bins_tev"] * u.TeV
    fov = arrays["fov_offset_bins_deg"] * u.deg
    cards = {k: v for k, v in header.items() if v is not None}
    point_like = dict(cards)
    if rad_max_deg is not None:
        point_like["RAD_MAX"] = float(rad_max_deg)
    hdus = [
        fits.PrimaryHDU(header=fits.Header(list(cards.items()))),
        create_aeff2d_hdu(
            arrays["effective_area_m2"] * u.m**2,
            e_true,
            fov,
            extname="EFFECTIVE AREA",
            point_like=True,
            **point_like,
        ),
        create_energy_dispersion_hdu(
            arrays["energy_dispersion"],
            e_true,
            arrays["migration_bins"],
            fov,
            point_like=True,
            extname="ENERGY DISPERSION",
            **point_like,
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
    if rad_max_deg is not None:
        rad_max = np.full((1, len(fov) - 1), float(rad_max_deg)) * u.deg  # (energy, offset)
        hdus.append(
            create_rad_max_hdu(
                rad_max,
                e_true[[0, -1]],
                fov,
                point_like=True,
                extname="RAD_MAX",
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
        rad_max_deg=_theta_cut(product),
    )


def _theta_cut(product: dict[str, Any]) -> float | None:
    """The product's point-like theta cut (deg): its payload's, or (products made before it
    was recorded there) the one in its recorded configuration."""
    cut = product["payload"].get("theta_cut_deg")
    if cut is None:
        config = (product.get("provenance") or {}).get("config")
        if config:
            cut = json.loads(config).get("handler_config", {}).get("theta_cut_deg")
    return None if cut is None else float(cut)
