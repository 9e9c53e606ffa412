"""Molecular (Rayleigh) scattering of the atmosphere, from a weather profile.

Cross-section (Bodhaine et al. 1999, J. Atmos. Ocean. Tech. 16, 1854, eqs. 2-23):
    sigma(lambda) = 24 pi^3 (n^2 - 1)^2 / (lambda^4 N_s^2 (n^2 + 2)^2) * F_King(lambda)
with n the refractive index of standard air (Peck & Reeder 1972, corrected for CO2), N_s the
number density it refers to (288.15 K, 1013.25 hPa: 2.546899e19 cm^-3) and F_King the depolarisation
(King) factor of air (Bates 1984 for N2, O2; Ar 1.00, CO2 1.15).
Number density N(h) = N_s (P / P_s)(T_s / T) (dry air; humidity neglected, < 0.5 % here).
Extinction beta(lambda, h) = N(h) sigma(lambda); vertical optical depth from the observatory
tau(lambda, h) = integral of beta dh. A ground reading is extended upwards with the lapse
rates of the U.S. Standard Atmosphere 1976, starting from the measured temperature and
pressure, with hydrostatic pressure.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from calibd.handler_api import BadInput

__all__ = [
    "N_STANDARD_CM3",
    "MolecularConfig",
    "cross_section_cm2",
    "extend_standard_atmosphere",
    "molecular_extinction",
    "number_density_cm3",
    "optical_depth",
    "refractive_index",
    "tau_hydrostatic",
]

N_STANDARD_CM3 = 2.546899e19  # 288.15 K, 1013.25 hPa
P_STANDARD_HPA = 1013.25
T_STANDARD_K = 288.15
AVOGADRO = 6.02214076e23
G0 = 9.80665  # m s^-2
R_GAS = 8.314462618  # J mol^-1 K^-1
WAVELENGTH_RANGE_NM = (200.0, 700.0)

# U.S. Standard Atmosphere 1976: layer base altitude (m) and lapse rate (K/m)
_USSA_LAYERS = [
    (0.0, -0.0065),
    (11_000.0, 0.0),
    (20_000.0, 0.001),
    (32_000.0, 0.0028),
    (47_000.0, 0.0),
    (51_000.0, -0.0028),
    (71_000.0, -0.002),
    (84_852.0, 0.0),
]


def _check_wavelengths(wavelength_nm: np.ndarray) -> np.ndarray:
    wl = np.atleast_1d(np.asarray(wavelength_nm, dtype=np.float64))
    lo, hi = WAVELENGTH_RANGE_NM
    if not np.all(np.isfinite(wl)) or np.any((wl < lo) | (wl > hi)):
        raise BadInput(f"wavelengths must lie within {lo:.0f}-{hi:.0f} nm, got {wl.tolist()}")
    return wl


def molar_mass_air(co2_ppm: float) -> float:
    """kg/mol of dry air with `co2_ppm` CO2 (Bodhaine et al. 1999, eq. 17)."""
    return (15.0556 * co2_ppm * 1e-6 + 28.9595) * 1e-3


def refractive_index(wavelength_nm: np.ndarray, co2_ppm: float = 420.0) -> np.ndarray:
    """n of standard air (Peck & Reeder 1972 at 300 ppm CO2, scaled for CO2: Bodhaine eq. 19)."""
    s2 = (1e3 / _check_wavelengths(wavelength_nm)) ** 2  # (1/lambda[um])^2
    n300 = 1 + 1e-8 * (8060.51 + 2480990 / (132.274 - s2) + 17455.7 / (39.32957 - s2))
    return 1 + (n300 - 1) * (1 + 0.54 * (co2_ppm * 1e-6 - 0.0003))


def king_factor(wavelength_nm: np.ndarray, co2_ppm: float = 420.0) -> np.ndarray:
    """Depolarisation factor of air (Bates 1984 via Bodhaine et al. 1999, eqs. 22-23)."""
    s2 = (1e3 / _check_wavelengths(wavelength_nm)) ** 2
    f_n2 = 1.034 + 3.17e-4 * s2
    f_o2 = 1.096 + 1.385e-3 * s2 + 1.448e-4 * s2**2
    co2_pct = co2_ppm * 1e-4
    return (78.084 * f_n2 + 20.946 * f_o2 + 0.934 * 1.00 + co2_pct * 1.15) / (
        78.084 + 20.946 + 0.934 + co2_pct
    )


def cross_section_cm2(wavelength_nm: np.ndarray, co2_ppm: float = 420.0) -> np.ndarray:
    """Rayleigh cross-section per molecule [cm^2]."""
    wl_cm = _check_wavelengths(wavelength_nm) * 1e-7
    n2 = refractive_index(wavelength_nm, co2_ppm) ** 2
    return (
        24
        * np.pi**3
        * (n2 - 1) ** 2
        / (wl_cm**4 * N_STANDARD_CM3**2 * (n2 + 2) ** 2)
        * king_factor(wavelength_nm, co2_ppm)
    )


def number_density_cm3(pressure_hpa: np.ndarray, temperature_k: np.ndarray) -> np.ndarray:
    return (
        N_STANDARD_CM3
        * (np.asarray(pressure_hpa) / P_STANDARD_HPA)
        * (T_STANDARD_K / np.asarray(temperature_k))
    )


def tau_hydrostatic(
    wavelength_nm: np.ndarray, pressure_hpa: float, co2_ppm: float = 420.0
) -> np.ndarray:
    """Vertical optical depth above a level of pressure P: sigma P N_A / (M_air g0)."""
    column_m2 = pressure_hpa * 100 * AVOGADRO / (molar_mass_air(co2_ppm) * G0)
    return cross_section_cm2(wavelength_nm, co2_ppm) * column_m2 * 1e-4  # per m^2 -> per cm^2


def extend_standard_atmosphere(
    altitude_m: float,
    pressure_hpa: float,
    temperature_k: float,
    top_m: float = 100_000.0,
    step_m: float = 50.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Altitudes, pressures and temperatures from a ground reading upwards (USSA-1976 lapse
    rates; temperature offset kept from the ground; hydrostatic pressure)."""
    if not (0 < pressure_hpa <= 1100 and 150 < temperature_k < 350):
        raise BadInput(f"ground reading out of range: {pressure_hpa} hPa, {temperature_k} K")
    h = np.arange(altitude_m, top_m + step_m / 2, step_m)
    t_std = _ussa_temperature(h)
    t = t_std + (temperature_k - _ussa_temperature(np.array([altitude_m]))[0])
    t = np.maximum(t, 150.0)
    m = molar_mass_air(420.0)
    # d ln P / dh = -M g / (R T): integrate with the trapezoid rule
    dlnp = (
        -m
        * G0
        / R_GAS
        * np.concatenate(([0.0], np.cumsum(0.5 * (1 / t[1:] + 1 / t[:-1]) * np.diff(h))))
    )
    return h, pressure_hpa * np.exp(dlnp), t


def _ussa_temperature(h: np.ndarray) -> np.ndarray:
    t = np.empty_like(h, dtype=np.float64)
    base_t = 288.15
    bases = [b for b, _ in _USSA_LAYERS] + [np.inf]
    temps = []
    for (b, lapse), top in zip(_USSA_LAYERS, bases[1:], strict=True):
        temps.append(base_t)
        if np.isfinite(top):
            base_t = base_t + lapse * (top - b)
    for (b, lapse), top, tb in zip(_USSA_LAYERS, bases[1:], temps, strict=True):
        inside = (h >= b) & (h < top)
        t[inside] = tb + lapse * (h[inside] - b)
    below = h < 0
    t[below] = 288.15 - 0.0065 * h[below]
    return t


def optical_depth(
    wavelength_nm: np.ndarray,
    altitude_m: np.ndarray,
    pressure_hpa: np.ndarray,
    temperature_k: np.ndarray,
    co2_ppm: float = 420.0,
) -> dict[str, np.ndarray]:
    """Extinction and cumulative vertical optical depth from the lowest level upwards.

    Returns number density [cm^-3] per level, beta [m^-1] (wavelength x level) and tau
    (wavelength x level), tau[:, 0] = 0. The profile must rise monotonically.
    """
    h = np.asarray(altitude_m, dtype=np.float64)
    p = np.asarray(pressure_hpa, dtype=np.float64)
    t = np.asarray(temperature_k, dtype=np.float64)
    if h.ndim != 1 or len(h) < 2 or not (len(h) == len(p) == len(t)):
        raise BadInput("a profile needs at least two levels with altitude, pressure, temperature")
    if not np.all(np.isfinite(h) & np.isfinite(p) & np.isfinite(t)):
        raise BadInput("the profile contains NaN or infinite values")
    if np.any(np.diff(h) <= 0):
        raise BadInput("profile altitudes must increase strictly")
    if np.any(p <= 0) or np.any(t <= 0):
        raise BadInput("profile pressures and temperatures must be positive")
    density = number_density_cm3(p, t)
    beta = cross_section_cm2(wavelength_nm, co2_ppm)[:, None] * density[None, :] * 100.0
    layers = log_linear_layers(beta, np.diff(h))
    tau = np.concatenate([np.zeros((beta.shape[0], 1)), np.cumsum(layers, axis=1)], axis=1)
    return {"number_density_cm3": density, "beta_m1": beta, "tau": tau}


def log_linear_layers(beta: np.ndarray, dh: np.ndarray) -> np.ndarray:
    """The optical depth of each layer between consecutive levels, with beta exponential in
    altitude inside the layer: (b0 - b1) dh / ln(b0 / b1), exact for an exponential
    atmosphere (a trapezoid over 1 km levels is +0.13 % high for an 8 km scale height).
    A layer with b0 == b1 (or nearly) is b0 dh, the same limit."""
    b0, b1 = beta[:, :-1], beta[:, 1:]
    ratio = np.log(b0 / b1)
    small = np.abs(ratio) < 1e-6
    safe = np.where(small, 1.0, ratio)
    exact = (b0 - b1) / safe
    # series of the same expression near b0 == b1: sqrt(b0 b1) (1 + ratio^2 / 24)
    near = np.sqrt(b0 * b1) * (1.0 + ratio**2 / 24.0)
    return np.where(small, near, exact) * dh[None, :]


# --- the handler's settings and its worker-process entry ----------------------------------


Wavelength = Annotated[float, Field(ge=WAVELENGTH_RANGE_NM[0], le=WAVELENGTH_RANGE_NM[1])]


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
        h, p, t = extend_standard_atmosphere(h[0], p[0], t[0], cfg.top_altitude_m, cfg.step_m)
    result = optical_depth(wl, h, p, t, cfg.co2_ppm)
    return {"wavelength_nm": wl, "altitude_m": h, "pressure_hpa": p, "temperature_k": t, **result}
