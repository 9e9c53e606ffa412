"""The FRAM-down alternative procedure for the aerosol extinction of a period: the configured
chain of methods is tried in order, the first that has its input wins:

- `ctc`: the Cherenkov transparency coefficient (`cherenkov_transparency` product) valid in the
  period: extra vertical aerosol depth -ln(T) cos(z) over the clear reference (skipped when T
  is outside (0, `ctc_max`]: not normalised to a clear reference night);
- `last_fram`: the newest FRAM-based `aerosol_extinction` product no older than
  `last_fram_max_age_h`, its uncertainty widened with the age;
- `seasonal`: the site's monthly climatological default.

Each method adds its own systematic uncertainty (`*_systematic`). The functions here take the
stored products the handler looked up (`handler.fram_down`) and return the estimate (vaod,
vaod_err, the input product ids, a one-line detail) or None when the method has no usable
input; they do no I/O.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from calibd.handlers.stored import stored_number, stored_numbers
from pydantic import BaseModel, Field

from calibd.handler_api import parse_time

__all__ = [
    "SEASONAL_PLACEHOLDERS",
    "FramDownConfig",
    "from_ctc",
    "from_last_fram",
    "is_fram_candidate",
    "seasonal",
]

Method = Literal["ctc", "last_fram", "seasonal"]

#: Monthly vertical aerosol optical depths at the reference wavelength, January first.
#: PLACEHOLDERS of the right order (a clear high-altitude site: 0.02-0.05; La Palma's summer
#: Saharan dust intrusions raise July-August); each site must set its own climatology.
SEASONAL_PLACEHOLDERS = {
    "CTAO-North": [0.03, 0.03, 0.04, 0.04, 0.04, 0.05, 0.07, 0.07, 0.05, 0.04, 0.03, 0.03],
    "CTAO-South": [0.02] * 12,
}


class FramDownConfig(BaseModel):
    fallback_chain: list[Method] = Field(
        default_factory=lambda: ["ctc", "last_fram", "seasonal"], min_length=1
    )
    reference_wavelength_nm: float = Field(default=400.0, ge=200, le=700)
    angstrom_alpha: float = Field(default=1.3, ge=0, le=4)
    requested_wavelengths_nm: list[Annotated[float, Field(ge=200, le=700)]] = Field(
        default_factory=lambda: [355.0, 400.0, 450.0, 532.0], min_length=1, max_length=100
    )
    ctc_reference_vaod: float = Field(default=0.03, ge=0, le=5)
    ctc_systematic: float = Field(default=0.02, ge=0, le=5)
    ctc_zenith_deg: float = Field(default=20.0, ge=0, lt=90)
    ctc_max: float = Field(default=1.5, gt=0, le=100)
    last_fram_max_age_h: float = Field(default=24.0, gt=0, le=8760)
    last_fram_widening_per_h: float = Field(default=0.001, ge=0, le=1)
    seasonal_vaod: dict[
        str,
        Annotated[list[Annotated[float, Field(ge=0, le=5)]], Field(min_length=12, max_length=12)],
    ] = Field(default_factory=lambda: SEASONAL_PLACEHOLDERS, max_length=10)  # 12 months a site
    seasonal_systematic: float = Field(default=0.03, ge=0, le=5)
    assessment_timeout_s: float = Field(default=7200.0, gt=0, le=30 * 86_400)


def from_ctc(
    ctc: dict[str, Any] | None, cfg: FramDownConfig
) -> tuple[dict[str, Any] | None, tuple[str, dict[str, Any]] | None]:
    """The estimate from the transparency product valid at the period's start, and a warning
    (message, fields) to log when a product was found but cannot be used."""
    if ctc is None or ctc["summary"].get("too_few_telescopes"):
        return None, None
    values = stored_numbers(ctc["summary"], "ctc", "ctc_err")
    if values is None:  # missing values: nothing to derive the extinction from
        warning = "transparency product without a coefficient, not used"
        return None, (warning, {"product": ctc["id"]})
    t, t_err = values
    if not 0 < t <= cfg.ctc_max:  # not normalised to a clear reference night: unusable here
        return None, (
            "transparency coefficient out of range, not used",
            {"ctc": t, "max": cfg.ctc_max},
        )
    cos_z = math.cos(
        math.radians(stored_number(ctc["summary"], "mean_zenith_deg") or cfg.ctc_zenith_deg)
    )
    vaod = max(cfg.ctc_reference_vaod - math.log(t) * cos_z, 0.0)
    stat = t_err / t * cos_z
    estimate = {
        "vaod": vaod,
        "vaod_err": math.hypot(stat, cfg.ctc_systematic),
        "inputs": [ctc["id"]],
        "detail": f"Cherenkov transparency coefficient {t:.3f} +- {t_err:.3f}",
    }
    return estimate, None


_FRAM_VALUES = ("vaod", "vaod_err", "reference_wavelength_nm")


def is_fram_candidate(product: dict[str, Any], start: datetime, cfg: FramDownConfig) -> bool:
    """A FRAM product valid from within `last_fram_max_age_h` before `start`, with its values."""
    oldest = start - timedelta(hours=cfg.last_fram_max_age_h)
    return (
        product["summary"].get("method") == "fram"
        and oldest <= parse_time(product["valid_from"]) <= start
        # a product with missing values (stored null) cannot stand in: skip it
        and stored_numbers(product["summary"], *_FRAM_VALUES) is not None
    )


def from_last_fram(
    products: list[dict[str, Any]], start: datetime, cfg: FramDownConfig
) -> dict[str, Any] | None:
    """The estimate from the newest usable FRAM product among `products`."""
    candidates = [p for p in products if is_fram_candidate(p, start, cfg)]
    if not candidates:
        return None
    p = max(candidates, key=lambda p: p["valid_from"])
    age_h = (start - parse_time(p["valid_from"])).total_seconds() / 3600
    vaod, err, wavelength = stored_numbers(p["summary"], *_FRAM_VALUES)  # type: ignore[misc]
    to_reference = wavelength / cfg.reference_wavelength_nm
    return {
        "vaod": vaod * to_reference**cfg.angstrom_alpha,
        "vaod_err": math.hypot(err, age_h * cfg.last_fram_widening_per_h),
        "inputs": [p["id"]],
        "detail": f"FRAM product {p['id']} from {age_h:.1f} h before the period",
    }


def seasonal(site: str, start: datetime, cfg: FramDownConfig) -> dict[str, Any] | None:
    """The site's climatological default for the month of `start`."""
    months = cfg.seasonal_vaod.get(site)
    if months is None:
        return None
    return {
        "vaod": months[start.month - 1],
        "vaod_err": cfg.seasonal_systematic,
        "inputs": [],
        "detail": f"seasonal default for {site}, month {start.month}",
    }
