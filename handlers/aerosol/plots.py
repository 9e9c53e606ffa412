"""The figures of `aerosol_extinction`: optical depth against wavelength; for a FRAM product
also its night (each measurement's VAOD with its uncertainty over time, used or cut, and the
clear-night decision); the optical depth at 400 nm over nights, by method."""

from __future__ import annotations

import numpy as np
from calibd.handlers.night_series import every_night

from calibd.handler_api import PlotJob, parse_time, plot_figure, plotter, time_axes

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


#: the wavelength the series compares products at (FRAM summarises at 550 nm, the fallbacks
#: at their reference wavelength: each product's optical depth is interpolated here instead)
SERIES_WAVELENGTH_NM = 400.0


@plotter("aerosol_extinction", series=every_night, title="over nights")
def plot_aerosol_nights(job: PlotJob):
    """Each product's optical depth at 400 nm (interpolated in its spectrum) with its
    uncertainty, by validity start, FRAM and each fallback method in its own colour."""
    fig, axes = plot_figure(1, 1, 3.8)
    ax = axes[0][0]
    times, by_method = [], {}
    for prod, arrays in job.series:
        order = np.argsort(arrays["wavelength_nm"])
        wl = np.asarray(arrays["wavelength_nm"], dtype=float)[order]
        tau = np.interp(SERIES_WAVELENGTH_NM, wl, np.asarray(arrays["tau"], dtype=float)[order])
        err = np.interp(SERIES_WAVELENGTH_NM, wl, np.asarray(arrays["tau_err"], dtype=float)[order])
        when = parse_time(prod["valid_from"])
        times.append(when)
        method = (prod.get("summary") or {}).get("method", "?")
        by_method.setdefault(method, []).append((when, tau, err))
    for method, points in sorted(by_method.items()):
        t, v, e = zip(*points, strict=True)
        ax.errorbar(t, v, yerr=e, fmt="o", capsize=2, label=method)
    ax.set(ylabel=f"aerosol optical depth at {SERIES_WAVELENGTH_NM:.0f} nm")
    ax.set(xlabel="validity start (UTC)")
    ax.legend(fontsize="small")
    time_axes([ax], times)
    fig.suptitle(f"aerosol extinction over nights ({len(times)} products)")
    return fig
