"""The figure of an `irf`: effective area and energy resolution against true energy, one
line per field-of-view offset bin."""

from __future__ import annotations

import numpy as np

from calibd.handler_api import PlotJob, plot_figure, plotter

__all__ = ["energy_resolution", "plot_irf"]


def energy_resolution(dispersion: np.ndarray, migration_bins: np.ndarray) -> np.ndarray:
    """Half the 16-84 % range of the migration (reco / true energy) per true energy and
    offset bin, from pyirf's dispersion (true energy, migration, offset; a density in
    migration); NaN where a bin holds no events."""
    widths = np.diff(migration_bins)[None, :, None]
    probability = np.asarray(dispersion, dtype=float) * widths
    total = probability.sum(axis=1)
    cdf = np.cumsum(probability, axis=1)
    out = np.full((dispersion.shape[0], dispersion.shape[2]), np.nan)
    for i, j in np.ndindex(out.shape):
        if total[i, j] > 0:
            curve = np.concatenate([[0.0], cdf[i, :, j] / total[i, j]])
            low, high = np.interp([0.16, 0.84], curve, migration_bins)
            out[i, j] = (high - low) / 2
    return out


@plotter("irf")
def plot_irf(job: PlotJob):
    arrays = job.arrays
    has_dispersion = "energy_dispersion" in arrays and "migration_bins" in arrays
    fig, axes = plot_figure(1, 1 + has_dispersion, 4.0)
    bins = arrays["true_energy_bins_tev"]
    centres = np.sqrt(bins[:-1] * bins[1:])
    area = np.atleast_2d(arrays["effective_area_m2"].T)
    for i, row in enumerate(area):
        axes[0][0].plot(centres, row, "o-", label=f"offset bin {i}")
    axes[0][0].set(xlabel="true energy [TeV]", ylabel="effective area [m²]", xscale="log")
    axes[0][0].set_yscale("symlog", linthresh=1.0)
    if has_dispersion:
        resolution = energy_resolution(arrays["energy_dispersion"], arrays["migration_bins"])
        for i, row in enumerate(resolution.T):
            axes[0][1].plot(centres, row, "o-", label=f"offset bin {i}")
        axes[0][1].set(
            xlabel="true energy [TeV]",
            ylabel="energy resolution (68 % half width)",
            xscale="log",
            title="energy resolution",
        )
        axes[0][1].legend(fontsize="small")
    return fig
