"""IRFs with pyirf: effective area, energy dispersion, PSF (gammas), background (protons,
electrons), after a gammaness cut and, for the point-like effective area and dispersion, a
theta cut. Runs in a worker process: plain arguments in, numpy arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import astropy.units as u
import numpy as np
from calibd.handlers.irf.reader import read_dl2
from pydantic import BaseModel, Field, model_validator

from calibd.handler_api import BadInput

if TYPE_CHECKING:
    from pyirf.simulations import SimulatedEventsInfo

# pyirf's modules are imported where they are used: they bring scipy.interpolate (~40 MB),
# which every process that imports the handler families would otherwise hold

__all__ = ["IrfConfig", "SimulatedFileSpec", "compute_irfs"]


class IrfConfig(BaseModel):
    """Cuts and binning of the IRFs (recorded in each product's provenance)."""

    gh_cut: float = Field(default=0.6, ge=0, lt=1, description="keep gh_score >= gh_cut")
    theta_cut_deg: float = Field(default=0.3, gt=0, le=10, description="point-like cut on theta")
    energy_min_tev: float = Field(default=0.02, ge=0.001, le=1000)
    energy_max_tev: float = Field(default=50.0, ge=0.001, le=1000)
    bins_per_decade: int = Field(default=5, ge=1, le=50)
    fov_offset_max_deg: float = Field(default=1.0, gt=0, le=20)
    background_fov_max_deg: float = Field(default=5.0, gt=0, le=20)
    background_fov_bins: int = Field(default=5, ge=1, le=100)
    migration_min: float = Field(default=0.2, gt=0, lt=1)
    migration_max: float = Field(default=5.0, gt=1, le=100)
    migration_bins: int = Field(default=30, ge=2, le=1000)
    source_offset_max_deg: float = Field(default=1.0, gt=0, le=20)
    source_offset_bins: int = Field(default=100, ge=2, le=10_000)
    obs_time_s: float = Field(
        default=3600.0, gt=0, le=1e8, description="for the background weights"
    )

    @model_validator(mode="after")
    def _energy_ordered(self) -> IrfConfig:
        if self.energy_min_tev >= self.energy_max_tev:
            raise ValueError("energy_min_tev must be below energy_max_tev")
        return self


@dataclass(frozen=True)
class SimulatedFileSpec:
    """One DL2 file and its simulated-spectrum metadata (from the production message)."""

    path: str
    particle: str
    n_showers: int
    energy_min_tev: float
    energy_max_tev: float
    spectral_index: float
    max_impact_m: float
    viewcone_deg: float

    def info(self) -> SimulatedEventsInfo:
        from pyirf.simulations import SimulatedEventsInfo

        return SimulatedEventsInfo(
            n_showers=self.n_showers,
            energy_min=self.energy_min_tev * u.TeV,
            energy_max=self.energy_max_tev * u.TeV,
            max_impact=self.max_impact_m * u.m,
            spectral_index=self.spectral_index,
            viewcone_min=0 * u.deg,
            viewcone_max=self.viewcone_deg * u.deg,
        )


def _bins(cfg: IrfConfig) -> dict[str, u.Quantity]:
    from pyirf.binning import create_bins_per_decade

    energy = create_bins_per_decade(
        cfg.energy_min_tev * u.TeV, cfg.energy_max_tev * u.TeV, cfg.bins_per_decade
    )
    return {
        "true_energy": energy,
        "reco_energy": energy,
        "fov_offset": u.Quantity([0, cfg.fov_offset_max_deg], u.deg),
        "background_fov_offset": np.linspace(
            0, cfg.background_fov_max_deg, cfg.background_fov_bins + 1
        )
        * u.deg,
        "migration": np.geomspace(cfg.migration_min, cfg.migration_max, cfg.migration_bins + 1),
        "source_offset": np.linspace(0, cfg.source_offset_max_deg, cfg.source_offset_bins + 1)
        * u.deg,
    }


def compute_irfs(files: list[SimulatedFileSpec], config: dict[str, Any]) -> dict[str, Any]:
    """The IRFs of a production: arrays (values and bin edges, units in the names) and a
    summary. Raises BadInput for unusable inputs."""
    from pyirf.irf import (
        background_2d,
        effective_area_per_energy,
        effective_area_per_energy_and_fov,
        energy_dispersion,
        psf_table,
    )
    from pyirf.spectral import (
        IRFDOC_ELECTRON_SPECTRUM,
        IRFDOC_PROTON_SPECTRUM,
        PowerLaw,
        calculate_event_weights,
    )

    cfg = IrfConfig.model_validate(config)
    bins = _bins(cfg)
    gammas = [f for f in files if f.particle == "gamma"]
    if not gammas:
        raise BadInput("the production has no gamma file")
    if len(gammas) > 1:
        raise BadInput("one gamma file per production is supported; merge them upstream")
    spec = gammas[0]
    events = read_dl2(Path(spec.path))
    selected = events[
        (events["gh_score"] >= cfg.gh_cut) & (events["theta"] <= cfg.theta_cut_deg * u.deg)
    ]
    if len(selected) == 0:
        raise BadInput(f"{Path(spec.path).name}: no gamma survives the cuts")
    if spec.viewcone_deg > 0:  # diffuse gammas
        aeff = effective_area_per_energy_and_fov(
            selected, spec.info(), bins["true_energy"], bins["fov_offset"]
        )
    else:  # a point source: one offset bin
        aeff = effective_area_per_energy(selected, spec.info(), bins["true_energy"])[:, None]
    edisp = energy_dispersion(selected, bins["true_energy"], bins["fov_offset"], bins["migration"])
    gh_selected = events[events["gh_score"] >= cfg.gh_cut]
    psf = psf_table(gh_selected, bins["true_energy"], bins["source_offset"], bins["fov_offset"])

    background = None
    obstime = cfg.obs_time_s * u.s
    targets = {"proton": IRFDOC_PROTON_SPECTRUM, "electron": IRFDOC_ELECTRON_SPECTRUM}
    parts = []
    for f in files:
        if f.particle not in targets:
            continue
        bkg = read_dl2(Path(f.path))
        bkg = bkg[bkg["gh_score"] >= cfg.gh_cut]
        simulated = PowerLaw.from_simulation(f.info(), obstime=obstime)
        bkg["weight"] = calculate_event_weights(bkg["true_energy"], targets[f.particle], simulated)
        parts.append(bkg)
    if parts:
        from astropy.table import vstack

        background = background_2d(
            vstack(parts), bins["reco_energy"], bins["background_fov_offset"], t_obs=obstime
        )

    centers = np.sqrt(bins["true_energy"][:-1] * bins["true_energy"][1:])
    arrays = {
        "true_energy_bins_tev": bins["true_energy"].to_value(u.TeV),
        "reco_energy_bins_tev": bins["reco_energy"].to_value(u.TeV),
        "fov_offset_bins_deg": bins["fov_offset"].to_value(u.deg),
        "background_fov_offset_bins_deg": bins["background_fov_offset"].to_value(u.deg),
        "migration_bins": np.asarray(bins["migration"], dtype=np.float64),
        "source_offset_bins_deg": bins["source_offset"].to_value(u.deg),
        "effective_area_m2": aeff.to_value(u.m**2),
        "energy_dispersion": np.asarray(edisp, dtype=np.float64),
        "psf_sr-1": psf.to_value(u.sr**-1),
    }
    if background is not None:
        arrays["background_s-1_mev-1_sr-1"] = background.to_value(1 / (u.s * u.MeV * u.sr))
    peak = int(np.argmax(aeff[:, 0]))
    summary = {
        "n_gamma_selected": len(selected),
        "max_effective_area_m2": float(aeff[peak, 0].to_value(u.m**2)),
        "energy_at_max_tev": float(centers[peak].to_value(u.TeV)),
        "has_background": background is not None,
    }
    return {"arrays": arrays, "summary": summary}
