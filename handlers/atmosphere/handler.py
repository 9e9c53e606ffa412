"""`ctao.acada.weather` -> `molecular_extinction`: number density, Rayleigh extinction and
vertical optical depth from the observatory, by altitude and wavelength (200-700 nm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from calibd.handlers.atmosphere import rayleigh
from pydantic import BaseModel, Field

from calibd.handler_api import HandlerResult, ProductDraft, WeatherEvent, exporter, handler

__all__ = ["MolecularConfig", "molecular_extinction", "weather"]


Wavelength = Annotated[
    float, Field(ge=rayleigh.WAVELENGTH_RANGE_NM[0], le=rayleigh.WAVELENGTH_RANGE_NM[1])
]


class MolecularConfig(BaseModel):
    """The profile is extended from the observatory to `top_altitude_m` (the U.S. Standard
    Atmosphere is defined to 86 km; above 120 km the optical depth no longer changes) in steps
    of `step_m`: at most 12,000 levels."""

    wavelengths_nm: list[Wavelength] = Field(
        default_factory=lambda: [float(w) for w in range(200, 701, 10)],
        min_length=1,
        max_length=1000,
    )
    co2_ppm: float = Field(default=420.0, ge=0, le=2000)
    top_altitude_m: float = Field(default=100_000.0, ge=10_000, le=120_000)
    step_m: float = Field(default=50.0, ge=10, le=1000)
    report_wavelengths_nm: list[Wavelength] = Field(
        default_factory=lambda: [350.0, 400.0, 500.0], max_length=100
    )


def molecular_extinction(
    levels: dict[str, list[float]], config: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Worker-process entry: a profile (or a one-level ground reading) -> arrays."""
    cfg = MolecularConfig.model_validate(config)
    wl = np.asarray(cfg.wavelengths_nm)
    h, p, t = (
        np.asarray(levels[k], dtype=np.float64)
        for k in ("altitude_m", "pressure_hpa", "temperature_k")
    )
    if len(h) == 1:
        h, p, t = rayleigh.extend_standard_atmosphere(
            h[0], p[0], t[0], cfg.top_altitude_m, cfg.step_m
        )
    result = rayleigh.optical_depth(wl, h, p, t, cfg.co2_ppm)
    return {"wavelength_nm": wl, "altitude_m": h, "pressure_hpa": p, "temperature_k": t, **result}


@handler(
    "ctao.acada.weather",
    name="molecular",
    config=MolecularConfig,
    algorithm="rayleigh-bodhaine1999",
    version="1",
)
async def weather(event: WeatherEvent, ctx) -> HandlerResult:
    data = event.data
    levels = data.profile or [data.ground]
    columns = {
        k: [getattr(level, k) for level in levels]
        for k in ("altitude_m", "pressure_hpa", "temperature_k")
    }
    arrays = await ctx.run_cpu(molecular_extinction, columns, ctx.config.model_dump())
    report = {
        f"tau_{w:.0f}nm": float(np.interp(w, arrays["wavelength_nm"], arrays["tau"][:, -1]))
        for w in ctx.config.report_wavelengths_nm
    }
    product = ProductDraft(
        product_type="molecular_extinction",
        valid_from=data.time,
        payload={
            "site": data.site,
            "source": "profile" if data.profile else "ground reading",
            "observatory_altitude_m": float(arrays["altitude_m"][0]),
            "top_altitude_m": float(arrays["altitude_m"][-1]),
            **report,
        },
        arrays=arrays,
        summary=report,
    )
    return HandlerResult(products=[product])


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
        fits.PrimaryHDU(
            header=fits.Header(
                [
                    ("PRODUCT", product["id"]),
                    ("CATEGORY", product["category"]),
                    ("VALSTART", product["valid_from"]),
                ]
            )
        ),
        fits.table_to_hdu(profile),
        fits.table_to_hdu(depth),
    ]
    hdus[1].name, hdus[2].name = "PROFILE", "OPTICAL_DEPTH"
    fits.HDUList(hdus).writeto(path, overwrite=True)
