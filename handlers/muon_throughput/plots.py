"""The figures of `optical_throughput_muon`: the throughput of each chunk of the run, and the
mean throughput over nights."""

from __future__ import annotations

import numpy as np
from calibd.handlers.night_series import every_night, summary_over_time

from calibd.handler_api import PlotJob, plot_figure, plotter

__all__ = ["plot_muon", "plot_muon_nights"]


@plotter("optical_throughput_muon")
def plot_muon(job: PlotJob):
    arrays = job.arrays
    fig, axes = plot_figure(1, 1, 4.0)
    ax = axes[0][0]
    start = np.asarray(arrays["time_start_mjd"], dtype=float)
    minutes = (start - start[0]) * 24 * 60 if start.size else start
    ax.errorbar(minutes, arrays["mean"], yerr=arrays.get("sem"), fmt="o-", capsize=2)
    ax.set(xlabel="chunk start [min after the first]", ylabel="optical throughput (mean)")
    return fig


@plotter("optical_throughput_muon", series=every_night, title="over nights")
def plot_muon_nights(job: PlotJob):
    return summary_over_time(
        job, [("mean_optical_throughput", None, "optical throughput")], "muon throughput"
    )
