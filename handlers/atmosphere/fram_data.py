"""`ctao.acada.fram_data` -> `aerosol_extinction` (method `fram`) for the period.

FRAM measurements come inline or as ACADA DL0 monitoring FITS files
(`schemas/formats/fram_monitoring.md`); `fram.aerosol_calibration` turns them into the night's
vertical aerosol optical depth with its uncertainty, stability, clear-night flag and Angstrom
scaling. A FRAM-down fallback product valid at the period's start is truncated there: from
its validity start the FRAM product replaces the fallback.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from calibd.handlers.atmosphere.aerosol import AEROSOL_PRODUCT
from calibd.handlers.atmosphere.fram import FramConfig, aerosol_calibration, read_fram_file
from calibd.handlers.columns import item_columns, merge_columns

from calibd.handler_api import FramDataEvent, HandlerResult, ProductDraft, handler

__all__ = ["fram_data"]

_COLUMNS = ("time_mjd", "ra_deg", "dec_deg", "aod", "aod_err", "peak_wavelength_nm")


def _calibrate(
    inline: dict[str, list[float]] | None, files: list[str], config: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Worker-process entry: read the files, merge with the inline measurements, calibrate."""
    parts = [read_fram_file(f) for f in files] + ([inline] if inline else [])
    merged = merge_columns(parts, _COLUMNS, dict.fromkeys(_COLUMNS, np.float64))
    return aerosol_calibration(**merged, config=config)


@handler(
    "ctao.acada.fram_data",
    name="fram",
    config=FramConfig,
    algorithm="fram-vaod-angstrom",
    version="1",
)
async def fram_data(event: FramDataEvent, ctx) -> HandlerResult:
    data, cfg = event.data, ctx.config
    config = cfg.model_dump()
    if data.site is not None:
        config["site"] = {"name": data.site}
    inline = None
    if data.measurements:
        inline = item_columns(
            data.measurements,
            {"time_mjd": "timestamp", **{c: c for c in _COLUMNS if c != "time_mjd"}},
        )
    files = [str(await ctx.resolve_file(f)) for f in data.files or []]
    per_meas, summary = await ctx.run_cpu(_calibrate, inline, files, config)
    arrays = {
        "wavelength_nm": per_meas["requested_wavelength_nm"],
        "tau": per_meas["requested_vaod"],
        "tau_err": per_meas["requested_vaod_err"],
        "tau_with_stratosphere": per_meas["requested_vaod_total"],
        **{
            f"measurement_{k}": per_meas[k]
            for k in ("time_mjd", "zenith_deg", "used", "wavelength_nm", "vaod", "vaod_err")
        },
    }
    fallbacks = [
        p["id"]
        for p in await ctx.store.products(product_type=AEROSOL_PRODUCT, at=data.period_start)
        if p["summary"].get("method") != "fram"
    ]
    if fallbacks:
        ctx.log.info("FRAM is back: fallback extinction truncated", truncated=fallbacks)
    payload = {
        "method": "fram",
        "vaod": summary["mean_vaod"],
        "vaod_err": summary["mean_vaod_err"],
        "angstrom_alpha": cfg.angstrom_alpha,
        **summary,
    }
    product = ProductDraft(
        product_type=AEROSOL_PRODUCT,
        valid_from=data.period_start,
        valid_to=data.period_end,
        payload=payload,
        arrays=arrays,
        summary={
            "method": "fram",
            "vaod": summary["mean_vaod"],
            "vaod_err": summary["mean_vaod_err"],
            "reference_wavelength_nm": summary["reference_wavelength_nm"],
            "clear_night": summary["clear_night"],
            "stability": summary["stability"],
        },
        truncates=fallbacks,
        # not measured: per-measurement values of measurements not used (zenith cut);
        # undefined: the stability of a night with mean VAOD <= 0 and scatter (F = inf)
        missing=[
            "arrays.measurement_vaod",
            "arrays.measurement_vaod_err",
            "payload.stability",
            "summary.stability",
        ],
    )
    return HandlerResult(products=[product])
