"""`ctao.acada.weather` -> `molecular_extinction`: number density, Rayleigh extinction and
vertical optical depth from the observatory, by altitude and wavelength (200-700 nm).

`rayleigh.molecular_extinction` computes the profile in a worker process; `export` writes the
product's FITS file."""

from __future__ import annotations

import numpy as np
from calibd.handlers.molecular.rayleigh import MolecularConfig, molecular_extinction

from calibd.handler_api import HandlerResult, ProductDraft, WeatherEvent, handler

__all__ = ["weather"]


@handler(
    "ctao.acada.weather",
    name="molecular",
    config=MolecularConfig,
    algorithm="rayleigh-bodhaine1999",
    version="2",  # 2: layers integrated log-linearly (1: trapezoid, +0.1-0.2 % high)
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
