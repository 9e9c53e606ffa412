"""The figures of `aerosol_extinction`: optical depth against wavelength; for a FRAM product
also its night (each measurement's VAOD with its uncertainty over time, used or cut, and the
clear-night decision); the VAOD over nights."""

from __future__ import annotations

import numpy as np
from calibd.handlers.night_series import every_night, summary_over_time

from calibd.handler_api import PlotJob, plot_figure, plotter, time_axes

__all__ = ["plot_aerosol", "plot_aerosol_nights"]


def _night(ax, job: PlotJob) -> None:
    from astropy.time import Time

    arrays, summary = job.arrays, job.product.get("summary") or {}
    mjd = np.asarray(arrays["measurement_time_mjd"], dtype=float)
    times = list(Time(mjd, format="mjd", scale="utc").to_datetime()) if mjd.size else []
    vaod = np.asarray(arrays["measurement_vaod"], dtype=float)
    err = np.asarray(arrays["measurement_vaod_err"], dtype=float)
    used = np.asarray(arrays.get("measurement_used", np.ones(mjd.size)), dtype=bool)
    for keep, label, colour in ((used, "used", "tab:blue"), (~used, "cut", "tab:grey")):
        if keep.any():
            pick = np.flatnonzero(keep)
            ax.errorbar(
                [times[i] for i in pick],
                vaod[pick],
                yerr=err[pick],
                fmt="o",
                color=colour,
                capsize=2,
                label=label,
            )
    if summary.get("vaod") is not None:
        ax.axhline(summary["vaod"], color="tab:orange", label="night mean")
    clear = "clear night" if summary.get("clear_night") else "not a clear night"
    stability = summary.get("stability")
    detail = f" (stability {stability:.3g})" if isinstance(stability, int | float) else ""
    ax.set(ylabel="VAOD", xlabel="time (UTC)", title=f"FRAM night: {clear}{detail}")
    ax.legend(fontsize="small")
    time_axes([ax], times)


@plotter("aerosol_extinction")
def plot_aerosol(job: PlotJob):
    arrays = job.arrays
    night = "measurement_time_mjd" in arrays
    fig, axes = plot_figure(1 + night, 1, 4.0 * (1 + night))
    ax = axes[0][0]
    ax.errorbar(arrays["wavelength_nm"], arrays["tau"], yerr=arrays["tau_err"], fmt="o-")
    method = (job.product.get("summary") or {}).get("method", "?")
    ax.set(xlabel="wavelength [nm]", ylabel="aerosol optical depth", title=f"method {method}")
    if night:
        _night(axes[1][0], job)
    return fig


@plotter("aerosol_extinction", series=every_night, title="over nights")
def plot_aerosol_nights(job: PlotJob):
    return summary_over_time(job, [("vaod", "vaod_err", "VAOD")], "aerosol extinction")
