"""Aerosol optical depth over the site from FRAM photometry (../shared/domain.md, "Atmosphere").

FRAM measures the aerosol optical depth AOD along its line of sight, per image, at the peak
wavelength of its filter. Per measurement i at zenith angle z_i (geometric, from the ICRS
position and time at the site, no refraction):

    VAOD_i = AOD_i cos z_i - tau_strat(lambda_i),    sigma_i = aod_err_i cos z_i
    tau_strat(lambda) = 0.005 (lambda / 420 nm)^-2   (stratospheric background, subtracted)

Measurements above `max_zenith_deg` are dropped. The reference wavelength lambda0 is the median
wavelength of the kept measurements; a measurement at another wavelength is scaled to lambda0
with the Angstrom law tau(lambda0) = tau(lambda_i) (lambda0 / lambda_i)^-alpha before averaging
(factor 1 when all share one filter).

Night summary (n kept measurements, weights w_i = 1 / sigma_i^2):

- mean VAOD m: inverse-variance weighted mean; statistical error 1 / sqrt(sum w).
- excess variance s^2 = max(var(VAOD) - mean(sigma^2), 0), var with ddof=1: the scatter the
  measurement errors do not explain (the night's own variability), clamped at 0.
- uncertainty of m: sqrt(1 / sum w + s^2 / n), the statistical error combined with the standard
  error of the mean of the intrinsic variability (a random-effects mean; it does not count the
  measurement noise twice, as adding std/sqrt(n) would).
- stability F = s / m. When m <= 0 (a night as clean as the stratospheric model) a relative
  variability has no meaning: F = 0 when s = 0, else F = inf (not clear); `stability_defined`
  says which case applies. F is never NaN.
- clear night: F <= `clear_stability_max` (0.01) and m < `clear_vaod_max` (0.04). The
  threshold is tight: with 40 measurements of vertical error 0.003 on a truly constant
  VAOD = 0.03, the noise of the excess-variance estimate alone gives F > 0.01 on about half
  of the nights; aod_err must be realistic (not underestimated) for the rule to mean much.

Wavelength scaling to the requested wavelengths: tau(lambda) = m (lambda / lambda0)^-alpha, with
error sqrt((sigma_m (lambda / lambda0)^-alpha)^2 + (tau ln(lambda / lambda0) sigma_alpha)^2).
alpha = 1.3 by default, Angstrom's (1929) typical value for continental aerosols; the site's
own aerosols differ (Saharan dust over La Palma has alpha < 0.5), so set alpha and its error
from multi-filter FRAM or other photometry when available. The total aerosol depth
(tropospheric + stratospheric model, each with its own exponent) is given as well.
"""

from __future__ import annotations

from typing import Annotated, Any

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from calibd.handlers.aerosol.sites import SiteConfig, earth_location, offline_iers
from pydantic import BaseModel, Field, field_validator, model_validator

from calibd.handler_api import BadInput

__all__ = [
    "FramConfig",
    "aerosol_calibration",
    "stratospheric_vaod",
    "zenith_angles",
]

offline_iers()

REQUESTED_RANGE_NM = (200.0, 700.0)
RequestedWavelength = Annotated[float, Field(ge=REQUESTED_RANGE_NM[0], le=REQUESTED_RANGE_NM[1])]


class FramConfig(BaseModel):
    site: SiteConfig = Field(default_factory=SiteConfig)
    stratospheric_aod_420nm: float = Field(default=0.005, ge=0, le=0.5)
    stratospheric_alpha: float = Field(default=2.0, ge=-1, le=5)
    angstrom_alpha: float = Field(default=1.3, ge=-1, le=5)
    # uncertainty of angstrom_alpha; propagated into the scaled optical depths (0: not counted)
    angstrom_alpha_err: float = Field(default=0.0, ge=0, le=5)
    requested_wavelengths_nm: list[RequestedWavelength] = Field(
        default_factory=lambda: [355.0, 400.0, 450.0, 532.0], min_length=1, max_length=100
    )
    clear_stability_max: float = Field(default=0.01, ge=0, le=1)
    clear_vaod_max: float = Field(default=0.04, gt=0, le=5)
    max_zenith_deg: float = Field(default=70.0, gt=0, le=90)
    min_measurements: int = Field(default=3, ge=2, le=1_000_000)
    wavelength_range_nm: tuple[
        Annotated[float, Field(gt=0, le=3000)], Annotated[float, Field(gt=0, le=3000)]
    ] = (300.0, 1100.0)

    @field_validator("site", mode="before")
    @classmethod
    def _site_by_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _range_ordered(self) -> FramConfig:
        lo, hi = self.wavelength_range_nm
        if not 0 < lo < hi:
            raise ValueError(f"wavelength_range_nm must be (low, high), 0 < low < high: {lo, hi}")
        return self


# --- geometry ------------------------------------------------------------------------------


def zenith_angles(
    time_mjd: np.ndarray,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    location: EarthLocation | SiteConfig | dict | str,
) -> np.ndarray:
    """Geometric zenith angle [deg] of ICRS positions at MJD (UTC) times, seen from `location`.

    One vectorised ICRS -> AltAz transform (no refraction: pressure 0), offline IERS data.
    """
    if not isinstance(location, EarthLocation):
        location = earth_location(location)
    t, ra, dec = np.broadcast_arrays(
        np.asarray(time_mjd, dtype=np.float64),
        np.asarray(ra_deg, dtype=np.float64),
        np.asarray(dec_deg, dtype=np.float64),
    )
    frame = AltAz(obstime=Time(t, format="mjd", scale="utc"), location=location)
    altaz = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").transform_to(frame)
    return np.asarray(90.0 - altaz.alt.to_value(u.deg), dtype=np.float64)


# --- analysis ------------------------------------------------------------------------------


def stratospheric_vaod(wavelength_nm: np.ndarray, aod_420nm: float, alpha: float) -> np.ndarray:
    """Stratospheric background optical depth: aod_420nm (lambda / 420 nm)^-alpha."""
    return aod_420nm * (np.asarray(wavelength_nm, dtype=np.float64) / 420.0) ** -alpha


def _checked(values: Any, field: str, n: int | None) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        raise BadInput(f"FRAM {field}: expected a 1-d array, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise BadInput(f"FRAM {field}: {len(arr)} values for {n} measurements")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise BadInput(f"FRAM {field}: {int(bad.sum())} of {len(arr)} values are NaN or infinite")
    return arr


def aerosol_calibration(
    time_mjd: np.ndarray,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    aod: np.ndarray,
    aod_err: np.ndarray,
    peak_wavelength_nm: np.ndarray,
    config: dict[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Vertical aerosol optical depth of a night from FRAM measurements (see module docstring).

    Returns per-measurement arrays (time_mjd, zenith_deg, used, wavelength_nm, vaod, vaod_err at
    the measured wavelength; vaod_ref, vaod_ref_err scaled to the reference wavelength; NaN where
    not used), the requested-wavelength arrays (requested_wavelength_nm, requested_vaod,
    requested_vaod_err, requested_vaod_total) and a summary of plain Python values.
    BadInput for NaN, negative AOD, aod_err <= 0 or so small that 1 / aod_err^2 overflows,
    wavelengths outside `wavelength_range_nm`, or
    fewer than `min_measurements` measurements within `max_zenith_deg`.
    """
    cfg = FramConfig.model_validate(config)
    t = _checked(time_mjd, "time_mjd", None)
    n = len(t)
    if n == 0:
        raise BadInput("FRAM: no measurements")
    ra = _checked(ra_deg, "ra", n)
    dec = _checked(dec_deg, "dec", n)
    tau = _checked(aod, "aod", n)
    tau_err = _checked(aod_err, "aod_err", n)
    wl = _checked(peak_wavelength_nm, "peak_wavelength", n)
    if np.any(tau < 0):
        raise BadInput(f"FRAM aod: {int((tau < 0).sum())} negative values (min {tau.min():.4g})")
    if np.any(tau_err <= 0):
        raise BadInput(f"FRAM aod_err: {int((tau_err <= 0).sum())} values <= 0")
    lo, hi = cfg.wavelength_range_nm
    outside = (wl < lo) | (wl > hi)
    if outside.any():
        raise BadInput(
            f"FRAM peak_wavelength: {int(outside.sum())} values outside {lo:.0f}-{hi:.0f} nm "
            f"(e.g. {wl[outside][0]:.1f} nm)"
        )
    if np.any(np.abs(dec) > 90):
        raise BadInput("FRAM dec: values outside -90..90 deg")

    zenith = zenith_angles(t, ra, dec, earth_location(cfg.site))
    used = zenith <= cfg.max_zenith_deg
    k = int(used.sum())
    if k < cfg.min_measurements:
        raise BadInput(
            f"FRAM: only {k} of {n} measurements within {cfg.max_zenith_deg:g} deg of the zenith, "
            f"need at least {cfg.min_measurements}"
        )

    cos_z = np.cos(np.radians(zenith))
    strat = stratospheric_vaod(wl, cfg.stratospheric_aod_420nm, cfg.stratospheric_alpha)
    vaod = np.where(used, tau * cos_z - strat, np.nan)
    vaod_err = np.where(used, tau_err * cos_z, np.nan)
    ref_wl = float(np.median(wl[used]))
    to_ref = (wl / ref_wl) ** cfg.angstrom_alpha  # tau(lambda0) = tau(lambda_i) * to_ref
    vaod_ref, vaod_ref_err = vaod * to_ref, vaod_err * to_ref

    v, s = vaod_ref[used], vaod_ref_err[used]
    with np.errstate(over="ignore", divide="ignore"):
        w = 1.0 / s**2
        total_weight = np.sum(w)
    if not np.isfinite(total_weight):
        raise BadInput(
            f"FRAM aod_err: values down to {tau_err[used].min():.3g} are too small for "
            "inverse-variance weights (1 / aod_err^2 overflows)"
        )
    mean = float(np.sum(w * v) / total_weight)
    stat_err = float(1.0 / np.sqrt(total_weight))
    excess_var = max(float(np.var(v, ddof=1) - np.mean(s**2)), 0.0)
    mean_err = float(np.sqrt(stat_err**2 + excess_var / k))
    if mean > 0:
        stability, defined = float(np.sqrt(excess_var) / mean), True
    else:
        stability, defined = (0.0 if excess_var == 0 else float("inf")), False
    clear = bool(stability <= cfg.clear_stability_max and mean < cfg.clear_vaod_max)

    req = np.asarray(cfg.requested_wavelengths_nm, dtype=np.float64)
    ratio = req / ref_wl
    scale = ratio**-cfg.angstrom_alpha
    req_vaod = mean * scale
    alpha_term = req_vaod * np.log(ratio) * cfg.angstrom_alpha_err
    req_err = np.sqrt((mean_err * scale) ** 2 + alpha_term**2)
    req_total = req_vaod + stratospheric_vaod(
        req, cfg.stratospheric_aod_420nm, cfg.stratospheric_alpha
    )

    arrays = {
        "time_mjd": t,
        "zenith_deg": zenith,
        "used": used,
        "wavelength_nm": wl,
        "vaod": vaod,
        "vaod_err": vaod_err,
        "vaod_ref": vaod_ref,
        "vaod_ref_err": vaod_ref_err,
        "requested_wavelength_nm": req,
        "requested_vaod": req_vaod,
        "requested_vaod_err": req_err,
        "requested_vaod_total": req_total,
    }
    lat, lon, height = cfg.site.coordinates()
    summary: dict[str, Any] = {
        "site": cfg.site.name,
        "site_lat_deg": lat,
        "site_lon_deg": lon,
        "site_height_m": height,
        "reference_wavelength_nm": ref_wl,
        "mixed_wavelengths": bool(np.ptp(wl[used]) > 0),
        "mean_vaod": mean,
        "mean_vaod_err": mean_err,
        "mean_vaod_stat_err": stat_err,
        "vaod_excess_std": float(np.sqrt(excess_var)),
        "chi2_ndf": float(np.sum(w * (v - mean) ** 2) / (k - 1)),
        "stability": stability,
        "stability_defined": defined,
        "clear_night": clear,
        "n_measurements": n,
        "n_used": k,
        "n_rejected_zenith": n - k,
        "time_start_mjd": float(t[used].min()),
        "time_end_mjd": float(t[used].max()),
        **{
            f"vaod_{wavelength:.0f}nm": float(value)
            for wavelength, value in zip(req, req_vaod, strict=True)
        },
    }
    return arrays, summary
