"""Cherenkov Transparency Coefficient (CTC) and relative optical throughput from trigger rates.

H.E.S.S. method (Hahn et al. 2014, Astropart. Phys. 54, 25, arXiv:1310.1639; for CTA: Stefanik
& Nosek, ICRC 2019, arXiv:1909.10498), ../shared/domain.md, "Atmosphere". The cosmic-ray rate
above a threshold falls as E_thr^-(Gamma-1), and the threshold scales inversely with the light
collected, so a telescope with optical throughput mu and gain factor g under an atmosphere of
transparency T triggers at

    R = (k T mu g)^(Gamma-1)        (k: a constant of the telescope type and trigger)

Inverting per telescope i, with the rate first brought to the zenith:

    R_i = R_i,measured / cos(z)^beta
    t_i = R_i^(1/(Gamma-1)) / (mu_i g_i)              (= k T)
    T   = (1 / (N k_N)) sum_i t_i                       (CTC; 1 for the reference atmosphere)

k_N is the mean t_i of N telescopes of this type on a clear reference night (`k_by_multiplicity`,
else `k_reference`), so T = 1 for that atmosphere. One telescope type per call.

Zenith correction: R(z) = R(0) cos(z)^beta. Hahn et al. correct with an empirical zenith
dependence of the H.E.S.S. rates; here beta is `zenith_correction_exponent`, default
1.4 = 2 (Gamma - 2) from geometric scaling (light-pool area ~ 1/cos^2 z, photon density
~ cos^2 z, hence E_thr ~ 1/cos^2 z and R ~ cos^-2 z * cos^(2(Gamma-1)) z); Bretz 2019
(arXiv:1902.03875) treats the full dependence. Replace it with a fit to the site's own rates.
`zenith_deg=None` means the rates are already zenith-equivalent.

Relative optical throughput (same transparency over the array): t'_i = R_i^(1/(Gamma-1)) / g_i
(no muon correction) and r_i = t'_i / mean(t').

Uncertainties: Poisson counts R_i dt give t_i a relative error 1 / ((Gamma-1) sqrt(R_i dt))
(measured, not zenith-corrected, rate). T carries sigma_stat = sqrt(sum sigma_i^2) / (N k_N) and
the telescope-to-telescope spread beyond counting statistics, s^2 = max(var(t) - mean(sigma^2), 0)
(ddof=1): sigma_T = sqrt(sigma_stat^2 + s^2 / (N k_N^2)). The plain spread std(t)/sqrt(N)/k_N is
reported too (`ctc_spread_err`). r_i errors are the linear propagation through the mean,
including the correlation with t'_i. The errors of mu_i, g_i and k_N are not included.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from calibd.handler_api import BadInput

__all__ = ["TransparencyConfig", "cherenkov_transparency"]


class TransparencyConfig(BaseModel):
    spectral_index: float = Field(default=2.7, gt=1.5, lt=4.0)  # Gamma, cosmic-ray spectrum
    zenith_correction_exponent: float = Field(default=1.4, ge=0, le=10)
    k_reference: float = Field(default=1.0, gt=0, le=1e9)
    k_by_multiplicity: dict[
        Annotated[int, Field(ge=1, le=1000)], Annotated[float, Field(gt=0, le=1e9)]
    ] = Field(default_factory=dict, max_length=1000)
    min_telescopes: int = Field(default=3, ge=1, le=1000)


def _per_telescope(values: Any, field: str, n: int, positive: bool = True) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise BadInput(f"CTC {field}: {arr.size} values for {n} telescopes")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise BadInput(f"CTC {field}: {int(bad.sum())} values are NaN or infinite")
    if positive and np.any(arr <= 0):
        raise BadInput(f"CTC {field}: {int((arr <= 0).sum())} values are zero or negative")
    return arr


def cherenkov_transparency(
    tel_ids: np.ndarray,
    rates_hz: np.ndarray,
    muon_eff: np.ndarray,
    gain_factor: np.ndarray,
    zenith_deg: np.ndarray | float | None,
    duration_s: np.ndarray | float,
    config: dict[str, Any],
) -> dict[str, Any]:
    """CTC of the array and relative throughputs (see module docstring).

    Per telescope (arrays, in input order): tel_id, rate_zenith_hz, t, t_err, t_prime,
    relative_throughput, relative_throughput_err. Scalars: ctc, ctc_err, ctc_stat_err,
    ctc_spread_err, k_n, n_telescopes, too_few_telescopes (N < min_telescopes).
    `zenith_deg` and `duration_s` may be one value for all telescopes.
    """
    cfg = TransparencyConfig.model_validate(config)
    ids = np.atleast_1d(np.asarray(tel_ids))
    n = len(ids)
    if ids.ndim != 1 or n == 0:
        raise BadInput("CTC: no telescopes")
    if len(np.unique(ids)) != n:
        raise BadInput(f"CTC tel_ids: duplicates in {ids.tolist()}")
    rate = _per_telescope(rates_hz, "rates_hz", n)
    mu = _per_telescope(muon_eff, "muon_eff", n)
    gain = _per_telescope(gain_factor, "gain_factor", n)
    dt = _per_telescope(duration_s, "duration_s (interval)", n)
    if zenith_deg is None:
        cos_beta = np.ones(n)
    else:
        zenith = _per_telescope(zenith_deg, "zenith_deg", n, positive=False)
        if np.any((zenith < 0) | (zenith >= 90)):
            raise BadInput("CTC zenith_deg: values must lie in [0, 90) deg")
        cos_beta = np.cos(np.radians(zenith)) ** cfg.zenith_correction_exponent

    exponent = 1.0 / (cfg.spectral_index - 1.0)
    rate_zenith = rate / cos_beta
    t_prime = rate_zenith**exponent / gain
    t = t_prime / mu
    rel_err = exponent / np.sqrt(rate * dt)  # Poisson: counts = R dt
    t_err = t * rel_err

    k_n = float(cfg.k_by_multiplicity.get(n, cfg.k_reference))
    mean_t = float(np.mean(t))
    ctc = mean_t / k_n
    stat_err = float(np.sqrt(np.sum(t_err**2)) / n / k_n)
    if n > 1:
        excess_var = max(float(np.var(t, ddof=1) - np.mean(t_err**2)), 0.0)
        spread_err = float(np.std(t, ddof=1) / np.sqrt(n) / k_n)
    else:
        excess_var, spread_err = 0.0, 0.0
    ctc_err = float(np.sqrt(stat_err**2 + excess_var / n / k_n**2))

    m = float(np.mean(t_prime))
    relative = t_prime / m
    tp_err = t_prime * rel_err
    # r_i = t'_i / m, m = mean(t'): dr_i/dt'_j = delta_ij / m - t'_i / (n m^2)
    rel_var = (
        tp_err**2 / m**2
        - 2 * t_prime * tp_err**2 / (n * m**3)
        + t_prime**2 * np.sum(tp_err**2) / (n**2 * m**4)
    )
    return {
        "tel_id": ids,
        "rate_zenith_hz": rate_zenith,
        "t": t,
        "t_err": t_err,
        "t_prime": t_prime,
        "relative_throughput": relative,
        "relative_throughput_err": np.sqrt(np.maximum(rel_var, 0.0)),
        "ctc": ctc,
        "ctc_err": ctc_err,
        "ctc_stat_err": stat_err,
        "ctc_spread_err": spread_err,
        "k_n": k_n,
        "n_telescopes": n,
        "too_few_telescopes": n < cfg.min_telescopes,
    }
