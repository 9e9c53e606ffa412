"""A synthetic simulation production with a known effective area (for tests and the demo).

Showers are thrown with a power law over a disk of radius R; a shower of true energy E is
detected with probability P(E) = p_max / (1 + (E / E50)^-k), so before cuts the effective area
is A(E) = pi R^2 P(E). Reconstructed energy has a log-normal scatter, theta a Rayleigh
distribution of scale sigma (so P(theta < c) = 1 - exp(-c^2 / 2 sigma^2)), gammaness a
Beta(5, 2) law for gammas and Beta(2, 5) for hadrons. Only detected events are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np
from astropy.table import QTable

if TYPE_CHECKING:
    from calibd.handler_api import Progress


__all__ = ["DetectorModel", "expected_effective_area", "simulate_production", "write_dl2"]


@dataclass(frozen=True)
class DetectorModel:
    p_max: float = 0.8
    e50_tev: float = 0.1
    slope: float = 2.0
    energy_resolution: float = 0.1
    psf_sigma_deg: float = 0.08
    gamma_beta: tuple[float, float] = (5.0, 2.0)
    hadron_beta: tuple[float, float] = (2.0, 5.0)

    def p_detect(self, e_tev: np.ndarray) -> np.ndarray:
        return self.p_max / (1 + (e_tev / self.e50_tev) ** -self.slope)


def _power_law(rng, n: int, e_min: float, e_max: float, index: float) -> np.ndarray:
    g = index + 1
    u01 = rng.random(n)
    return (e_min**g + u01 * (e_max**g - e_min**g)) ** (1 / g)


def expected_effective_area(
    e_lo: np.ndarray,
    e_hi: np.ndarray,
    model: DetectorModel,
    max_impact_m: float,
    index: float,
    gh_cut: float,
    theta_cut_deg: float,
) -> np.ndarray:
    """The analytic effective area [m^2] after cuts, averaged over each true-energy bin with
    the simulated spectrum (what the per-bin ratio of selected to thrown showers estimates)."""
    from scipy import integrate, stats

    cut = stats.beta(*model.gamma_beta).sf(gh_cut)
    cut *= 1 - np.exp(-(theta_cut_deg**2) / (2 * model.psf_sigma_deg**2))
    out = []
    for lo, hi in zip(e_lo, e_hi, strict=True):
        num = integrate.quad(lambda e: model.p_detect(e) * e**index, lo, hi)[0]
        den = integrate.quad(lambda e: e**index, lo, hi)[0]
        out.append(np.pi * max_impact_m**2 * cut * num / den)
    return np.asarray(out)


def simulate_production(
    out_dir: Path,
    n_gamma: int = 1_000_000,
    n_proton: int = 2_000_000,
    seed: int = 1,
    model: DetectorModel | None = None,
    fmt: str = "fits",
    bar: Progress | None = None,
) -> dict[str, Any]:
    """Write gamma and proton DL2 files; return the production's `data` for its message
    (`bar` counts the showers thrown)."""
    model = model or DetectorModel()
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    specs = [
        ("gamma", n_gamma, 0.01, 100.0, 1000.0, 0.0),
        ("proton", n_proton, 0.01, 200.0, 1500.0, 6.0),
    ]
    for particle, n, e_min, e_max, impact, viewcone in specs:
        if n == 0:
            continue
        if bar is not None:
            bar.total = n_gamma + n_proton
            bar.advance(0, note=f"{particle}s")
        e = _power_law(rng, n, e_min, e_max, -2.0)
        e = e[rng.random(n) < model.p_detect(e)]
        m = len(e)
        reco = e * rng.lognormal(0.0, model.energy_resolution, m)
        if viewcone > 0:  # diffuse: uniform over the cone's solid angle
            cos_max = np.cos(np.radians(viewcone))
            true_off = np.degrees(np.arccos(1 - rng.random(m) * (1 - cos_max)))
        else:
            true_off = np.zeros(m)
        theta = rng.rayleigh(model.psf_sigma_deg, m)
        beta = model.gamma_beta if particle == "gamma" else model.hadron_beta
        table = QTable(
            {
                "true_energy": e * u.TeV,
                "reco_energy": reco * u.TeV,
                "true_source_fov_offset": true_off * u.deg,
                "reco_source_fov_offset": np.abs(true_off + rng.normal(0, 0.05, m)) * u.deg,
                "theta": theta * u.deg,
                "gh_score": rng.beta(*beta, m),
            }
        )
        name = f"{particle}_dl2.{'ecsv' if fmt == 'ecsv' else 'fits'}"
        write_dl2(table, out_dir / name)
        if bar is not None:
            bar.advance(n)
        files.append(
            {
                "uri": str(out_dir / name),
                "particle": particle,
                "n_showers": n,
                "energy_min_tev": e_min,
                "energy_max_tev": e_max,
                "spectral_index": -2.0,
                "max_impact_m": impact,
                "viewcone_deg": viewcone,
            }
        )
    return {
        "production_id": f"synthetic-{seed}",
        "site": "CTAO-North",
        "zenith_deg": 20.0,
        "azimuth_deg": 0.0,
        "files": files,
    }


def write_dl2(table: QTable, path: Path) -> None:
    """Write a DL2 table (FITS `EVENTS` HDU or ECSV, by the file name)."""
    if path.name.endswith(".ecsv"):
        table.write(path, format="ascii.ecsv", overwrite=True)
    else:
        table.meta["EXTNAME"] = "EVENTS"
        table.write(path, format="fits", overwrite=True)
