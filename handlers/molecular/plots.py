"""The figure of a `molecular_extinction` product: optical depth and temperature against
altitude."""

from __future__ import annotations

import numpy as np

from calibd.handler_api import PlotJob, plot_figure, plotter

__all__ = ["plot_molecular"]


@plotter("molecular_extinction")
def plot_molecular(job: PlotJob):
    arrays = job.arrays
    fig, axes = plot_figure(1, 2, 4.2)
    altitude_km = arrays["altitude_m"] / 1000
    wavelengths = arrays["wavelength_nm"]
    for i in np.linspace(0, len(wavelengths) - 1, 5).astype(int):
        axes[0][0].plot(arrays["tau"][i], altitude_km, label=f"{wavelengths[i]:.0f} nm")
    axes[0][0].set(xlabel="optical depth", ylabel="altitude [km]", xscale="log")
    axes[0][0].legend(fontsize="small")
    axes[0][1].plot(arrays["temperature_k"], altitude_km)
    axes[0][1].set(xlabel="temperature [K]", ylabel="altitude [km]")
    return fig
