"""Optical throughput of a telescope from the per-muon optical efficiencies of its rings.

Quality cuts (impact parameter within [impact_min, impact_max] m, a valid ring fit, ring not
at a limit of the fit), then chunks of `chunk_size` consecutive muons (time order); per chunk
the sigma-clipped mean, median and standard deviation (astropy `sigma_clipped_stats`, 3 sigma,
5 iterations by default), sem = std / sqrt(n), the time span and the number of muons kept
(see ../shared/domain.md, "Optical throughput from muons"; ctapipe/calibpipe use the same
scheme). A final chunk with fewer than `min_chunk_events` muons joins the previous one.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from astropy.stats import sigma_clipped_stats
from pydantic import BaseModel, Field, model_validator

from calibd.handler_api import BadInput

__all__ = ["MuonThroughputConfig", "muon_throughput"]


class MuonThroughputConfig(BaseModel):
    impact_min_m: float = Field(default=0.0, ge=0, le=100)  # impact on the mirror plane
    impact_max_m: float = Field(default=10.0, gt=0, le=100)
    chunk_size: int = Field(default=500, ge=10, le=1_000_000)
    min_chunk_events: int = Field(default=100, ge=1, le=1_000_000)
    sigma: float = Field(default=3.0, gt=0, le=100)
    max_iterations: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _impact_ordered(self) -> MuonThroughputConfig:
        if self.impact_min_m >= self.impact_max_m:
            raise ValueError("impact_min_m must be below impact_max_m")
        return self


def muon_throughput(
    time_mjd: np.ndarray,
    efficiency: np.ndarray,
    impact_m: np.ndarray,
    fit_valid: np.ndarray,
    at_limit: np.ndarray,
    config: dict,
) -> dict[str, np.ndarray]:
    """Per-chunk throughput statistics. Raises BadInput when no muon survives the cuts."""
    cfg = MuonThroughputConfig.model_validate(config)
    t = np.asarray(time_mjd, dtype=np.float64)
    eff = np.asarray(efficiency, dtype=np.float64)
    imp = np.asarray(impact_m, dtype=np.float64)
    n_in = len(eff)
    if n_in == 0:
        raise BadInput("no muon rings in the input")
    if not np.all(np.isfinite(t)):
        raise BadInput("muon times contain NaN")
    keep = (
        np.asarray(fit_valid, bool)
        & ~np.asarray(at_limit, bool)
        & np.isfinite(eff)
        & np.isfinite(imp)
        & (imp >= cfg.impact_min_m)
        & (imp <= cfg.impact_max_m)
    )
    if not keep.any():
        raise BadInput(f"none of the {n_in} muon rings passes the quality cuts")
    order = np.argsort(t[keep], kind="stable")
    t, eff = t[keep][order], eff[keep][order]
    edges = [*range(0, len(eff), cfg.chunk_size), len(eff)]
    if len(edges) > 2 and edges[-1] - edges[-2] < cfg.min_chunk_events:
        del edges[-2]
    rows = []
    for lo, hi in pairwise(edges):
        mean, median, std = sigma_clipped_stats(
            eff[lo:hi], sigma=cfg.sigma, maxiters=cfg.max_iterations
        )
        n = hi - lo
        rows.append((t[lo], t[hi - 1], n, mean, median, std, std / np.sqrt(n)))
    cols = np.array(rows, dtype=np.float64).T
    return {
        "time_start_mjd": cols[0],
        "time_end_mjd": cols[1],
        "n_events": cols[2],
        "mean": cols[3],
        "median": cols[4],
        "std": cols[5],
        "sem": cols[6],
        "n_input": np.array([n_in]),
        "n_selected": np.array([int(keep.sum())]),
    }
