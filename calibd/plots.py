"""Product plots as PNG (matplotlib's Agg canvas, no pyplot state): per-pixel camera
calibration (factor, pedestal, time shift, unusable pixels) with histograms, a camera
pedestal, molecular extinction against altitude, aerosol optical depth against wavelength and
an IRF's effective area. `render_png` is CPU work: call it in a thread (`render_png_async`).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "PLOTTED_TYPES",
    "block_of",
    "can_plot",
    "render_png",
    "render_png_async",
    "render_series_png",
]

_LOCK = threading.Lock()  # one figure at a time: matplotlib's font cache and the 2 cores


def _figure(rows: int, cols: int, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, height), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _per_pixel(axes_row, values: np.ndarray, label: str, channels: list[str]) -> None:
    """One quantity: per pixel (left) and its histogram (right), one line per gain channel."""
    left, right = axes_row
    values = np.atleast_2d(np.asarray(values, dtype=float))
    for channel, row in zip(channels, values, strict=False):
        pixels = np.arange(row.size)
        left.plot(pixels, row, ".", markersize=2, label=channel)
        finite = row[np.isfinite(row)]
        if finite.size:
            right.hist(finite, bins=60, histtype="step", label=channel)
    left.set(xlabel="pixel", ylabel=label)
    right.set(xlabel=label, ylabel="pixels")
    if len(values) > 1:
        left.legend(loc="upper right", fontsize="small")


def _unusable(axes_row, mask: np.ndarray) -> None:
    left, right = axes_row
    mask = np.asarray(mask).astype(bool).ravel()
    left.vlines(np.flatnonzero(mask), 0, 1, color="tab:red")
    left.set(xlabel="pixel", ylabel="unusable", ylim=(0, 1.2), xlim=(0, mask.size))
    right.bar(
        ["usable", "unusable"],
        [int((~mask).sum()), int(mask.sum())],
        color=["tab:green", "tab:red"],
    )
    right.set(ylabel="pixels", title=f"{int(mask.sum())} of {mask.size} unusable")


def _channels(arrays: dict[str, np.ndarray], name: str) -> list[str]:
    n = np.atleast_2d(arrays[name]).shape[0]
    return ["high gain", "low gain"][:n] if n <= 2 else [f"channel {i}" for i in range(n)]


def _camera_calibration(prod: dict[str, Any], arrays: dict[str, np.ndarray]):
    quantities = [
        (arrays.get("factor_applied", arrays.get("factor")), "calibration factor"),
        (arrays.get("pedestal_offset"), "pedestal offset"),
        (arrays.get("time_shift_applied", arrays.get("time_shift")), "time shift [ns]"),
    ]
    quantities = [(v, label) for v, label in quantities if v is not None]
    mask = arrays.get("unusable", arrays.get("pixel_outlier_mask"))
    fig, axes = _figure(len(quantities) + (mask is not None), 2, 2.6 * (len(quantities) + 1))
    channels = _channels(arrays, "factor") if "factor" in arrays else ["high gain"]
    for row, (values, label) in zip(axes, quantities, strict=False):
        _per_pixel(row, values, label, channels)
    if mask is not None:
        _unusable(axes[-1], mask)
    return fig


def _camera_pedestal(prod: dict[str, Any], arrays: dict[str, np.ndarray]):
    fig, axes = _figure(3, 2, 7.8)
    channels = _channels(arrays, "pedestal_offset")
    _per_pixel(axes[0], arrays["pedestal_offset"], "pedestal offset", channels)
    _per_pixel(axes[1], arrays["pedestal_std"], "pedestal std", channels)
    mask = np.bitwise_or.reduce(np.atleast_2d(arrays["pedestal_outlier_mask"]), axis=0) != 0
    _unusable(axes[2], mask)
    return fig


def _molecular(prod: dict[str, Any], arrays: dict[str, np.ndarray]):
    fig, axes = _figure(1, 2, 4.2)
    altitude_km = arrays["altitude_m"] / 1000
    wavelengths = arrays["wavelength_nm"]
    for i in np.linspace(0, len(wavelengths) - 1, 5).astype(int):
        axes[0][0].plot(arrays["tau"][i], altitude_km, label=f"{wavelengths[i]:.0f} nm")
    axes[0][0].set(xlabel="optical depth", ylabel="altitude [km]", xscale="log")
    axes[0][0].legend(fontsize="small")
    axes[0][1].plot(arrays["temperature_k"], altitude_km)
    axes[0][1].set(xlabel="temperature [K]", ylabel="altitude [km]")
    return fig


def _aerosol(prod: dict[str, Any], arrays: dict[str, np.ndarray]):
    fig, axes = _figure(1, 1, 4.0)
    ax = axes[0][0]
    ax.errorbar(arrays["wavelength_nm"], arrays["tau"], yerr=arrays["tau_err"], fmt="o-")
    ax.set(xlabel="wavelength [nm]", ylabel="aerosol optical depth")
    return fig


def _irf(prod: dict[str, Any], arrays: dict[str, np.ndarray]):
    fig, axes = _figure(1, 1, 4.0)
    bins = arrays["true_energy_bins_tev"]
    centres = np.sqrt(bins[:-1] * bins[1:])
    area = np.atleast_2d(arrays["effective_area_m2"].T)
    for i, row in enumerate(area):
        axes[0][0].plot(centres, row, "o-", label=f"offset bin {i}")
    axes[0][0].set(xlabel="true energy [TeV]", ylabel="effective area [m²]", xscale="log")
    axes[0][0].set_yscale("symlog", linthresh=1.0)
    return fig


_PLOTS: dict[str, Callable[[dict[str, Any], dict[str, np.ndarray]], Any]] = {
    "camera_calibration": _camera_calibration,
    "camera_pedestal": _camera_pedestal,
    "molecular_extinction": _molecular,
    "aerosol_extinction": _aerosol,
    "irf": _irf,
}
PLOTTED_TYPES = tuple(sorted(_PLOTS))


def can_plot(product_type: str) -> bool:
    return product_type in _PLOTS


def render_png(prod: dict[str, Any]) -> bytes:
    """The PNG of a product (as `store.product` returns it, arrays blob included)."""
    from calibd.arrays import load_arrays

    arrays = load_arrays(prod.get("arrays"))
    with _LOCK:
        fig = _PLOTS[prod["product_type"]](prod, arrays)
        fig.suptitle(f"{prod['product_type']} {prod['id']} (tel {prod.get('tel_id')})")
        out = io.BytesIO()
        fig.savefig(out, format="png")
    return out.getvalue()


def block_of(prod: dict[str, Any]) -> str | None:
    """The observation block a camera calibration product belongs to (None: a dedicated run)."""
    if prod["product_type"] != "camera_calibration":
        return None
    return (prod.get("summary") or {}).get("block")


def _median(arrays: dict[str, np.ndarray], *names: str) -> np.ndarray:
    """Median over pixels per gain channel of the first of `names` present (NaN if none)."""
    for name in names:
        if name in arrays:
            return np.nanmedian(np.atleast_2d(np.asarray(arrays[name], dtype=float)), axis=1)
    return np.full(1, np.nan)


def _time_axes(axes, times: list) -> None:
    from datetime import timedelta

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    for ax in axes:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if len(set(times)) == 1:
            ax.set_xlim(times[0] - timedelta(minutes=30), times[0] + timedelta(minutes=30))


def render_series_png(series: list[tuple[dict[str, Any], dict[str, np.ndarray]]]) -> bytes:
    """The coefficients along an observation block: medians over pixels per gain channel of
    each chunk's factor, pedestal and time shift, and its unusable pixels, by validity start."""
    from calibd.store.times import parse_time

    times = [parse_time(p["valid_from"]) for p, _ in series]
    quantities = [
        (("factor_applied", "factor"), "median factor"),
        (("pedestal_offset",), "median pedestal offset"),
        (("time_shift_applied", "time_shift"), "median time shift [ns]"),
    ]
    with _LOCK:
        fig, axes = _figure(4, 1, 9.0)
        for ax, (names, label) in zip(axes[:, 0], quantities, strict=False):
            values = np.array([_median(a, *names) for _, a in series], dtype=object)
            width = max(len(v) for v in values)
            for channel in range(width):
                ys = [v[channel] if channel < len(v) else np.nan for v in values]
                ax.plot(times, ys, "o-", label=["high gain", "low gain", "other"][min(channel, 2)])
            ax.set(ylabel=label)
            ax.legend(fontsize="small")
        unusable = [int(np.asarray(a.get("unusable", [])).astype(bool).sum()) for _, a in series]
        axes[3][0].plot(times, unusable, "o-", color="tab:red")
        axes[3][0].set(ylabel="unusable pixels", xlabel="validity start (UTC)")
        _time_axes(axes[:, 0], times)
        first = series[0][0]
        fig.suptitle(f"observation block {block_of(first)} (tel {first.get('tel_id')})")
        out = io.BytesIO()
        fig.savefig(out, format="png")
    return out.getvalue()


async def render_png_async(prod: dict[str, Any]) -> bytes:
    """`render_png` in a thread, off the event loop."""
    return await asyncio.to_thread(render_png, prod)
