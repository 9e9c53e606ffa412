"""The figures of `cherenkov_transparency`: each telescope's relative throughput, and the
coefficient over nights."""

from __future__ import annotations

import numpy as np
from calibd.handlers.night_series import every_night, summary_over_time

from calibd.handler_api import PlotJob, plot_figure, plotter

__all__ = ["plot_transparency", "plot_transparency_nights"]


@plotter("cherenkov_transparency")
def plot_transparency(job: PlotJob):
    arrays = job.arrays
    fig, axes = plot_figure(1, 1, 4.0)
    ax = axes[0][0]
    tels = [str(int(t)) for t in np.ravel(arrays.get("tel_id", []))]
    err = np.ravel(arrays.get("relative_throughput_err", []))
    values = np.ravel(arrays.get("relative_throughput", []))
    ax.bar(tels, values, yerr=err if err.size == values.size else None, capsize=3)
    summary = job.product.get("summary") or {}
    ctc = summary.get("ctc")
    ax.set(
        xlabel="telescope",
        ylabel="relative throughput",
        title=f"CTC {ctc:.3f}" if isinstance(ctc, int | float) else "CTC",
    )
    return fig


@plotter("cherenkov_transparency", series=every_night, title="over nights")
def plot_transparency_nights(job: PlotJob):
    return summary_over_time(
        job, [("ctc", "ctc_err", "Cherenkov transparency coefficient")], "Cherenkov transparency"
    )
