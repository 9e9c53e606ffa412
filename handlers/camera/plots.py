"""The camera families' figures: `camera_calibration` on the camera geometry when
`handlers.camera_block.instrument_file` describes the telescope (else per pixel), each
quantity with its histogram; `camera_pedestal`; the coefficients along an observation block."""

from __future__ import annotations

from typing import Any

import numpy as np
from calibd.handlers.camera.camera_view import camera_geometry, draw_camera

from calibd.handler_api import PlotJob, parse_time, plot_figure, plotter, time_axes

__all__ = ["block_of", "plot_block", "plot_camera_calibration", "plot_camera_pedestal"]


def block_of(prod: dict[str, Any]) -> str | None:
    """The observation block a camera calibration product belongs to (None: a dedicated run)."""
    return (prod.get("summary") or {}).get("block")


def _channels(values: np.ndarray) -> list[str]:
    n = np.atleast_2d(values).shape[0]
    return ["high gain", "low gain"][:n] if n <= 2 else [f"channel {i}" for i in range(n)]


def _histogram(ax, values: np.ndarray, label: str) -> None:
    values = np.atleast_2d(np.asarray(values, dtype=float))
    for channel, row in zip(_channels(values), values, strict=False):
        finite = row[np.isfinite(row)]
        if finite.size:
            ax.hist(finite, bins=60, histtype="step", label=channel)
    ax.set(xlabel=label, ylabel="pixels")
    if len(values) > 1:
        ax.legend(loc="upper right", fontsize="small")


def _per_pixel(axes_row, values: np.ndarray, label: str) -> None:
    """One quantity: per pixel (left) and its histogram (right), one line per gain channel."""
    left, right = axes_row
    values = np.atleast_2d(np.asarray(values, dtype=float))
    for channel, row in zip(_channels(values), values, strict=False):
        left.plot(np.arange(row.size), row, ".", markersize=2, label=channel)
    left.set(xlabel="pixel", ylabel=label)
    if len(values) > 1:
        left.legend(loc="upper right", fontsize="small")
    _histogram(right, values, label)


def _unusable(axes_row, mask: np.ndarray, geometry=None) -> None:
    left, right = axes_row
    mask = np.asarray(mask).astype(bool).ravel()
    if geometry is not None:
        draw_camera(left, geometry, mask.astype(float), "unusable pixels", cmap="RdYlGn_r")
    else:
        left.vlines(np.flatnonzero(mask), 0, 1, color="tab:red")
        left.set(xlabel="pixel", ylabel="unusable", ylim=(0, 1.2), xlim=(0, mask.size))
    right.bar(
        ["usable", "unusable"],
        [int((~mask).sum()), int(mask.sum())],
        color=["tab:green", "tab:red"],
    )
    right.set(ylabel="pixels", title=f"{int(mask.sum())} of {mask.size} unusable")


@plotter("camera_calibration")
def plot_camera_calibration(job: PlotJob):
    arrays = job.arrays
    quantities = [
        (arrays.get("factor_applied", arrays.get("factor")), "calibration factor"),
        (arrays.get("pedestal_offset"), "pedestal offset"),
        (arrays.get("time_shift_applied", arrays.get("time_shift")), "time shift [ns]"),
    ]
    quantities = [(np.atleast_2d(v), label) for v, label in quantities if v is not None]
    mask = arrays.get("unusable", arrays.get("pixel_outlier_mask"))
    n_pixels = quantities[0][0].shape[-1] if quantities else np.size(mask)
    geometry = camera_geometry(job.settings, job.product.get("tel_id"), n_pixels)
    rows = len(quantities) + (mask is not None)
    if geometry is None:
        fig, axes = plot_figure(rows, 2, 2.6 * (len(quantities) + 1))
        for row, (values, label) in zip(axes, quantities, strict=False):
            _per_pixel(row, values, label)
    else:  # the high-gain channel on the camera, every channel in the histogram
        fig, axes = plot_figure(rows, 2, 4.6 * rows, width=10)
        for row, (values, label) in zip(axes, quantities, strict=False):
            draw_camera(row[0], geometry, values[0], f"{label} ({_channels(values)[0]})")
            _histogram(row[1], values, label)
    if mask is not None:
        _unusable(axes[-1], mask, geometry)
    where = f", {geometry.camera_name}" if geometry is not None else ""
    fig.suptitle(f"camera_calibration {job.product['id']} (tel {job.product.get('tel_id')}{where})")
    return fig


@plotter("camera_pedestal")
def plot_camera_pedestal(job: PlotJob):
    arrays = job.arrays
    fig, axes = plot_figure(3, 2, 7.8)
    _per_pixel(axes[0], arrays["pedestal_offset"], "pedestal offset")
    _per_pixel(axes[1], arrays["pedestal_std"], "pedestal std")
    mask = np.bitwise_or.reduce(np.atleast_2d(arrays["pedestal_outlier_mask"]), axis=0) != 0
    _unusable(axes[2], mask)
    return fig


def _median(arrays: dict[str, np.ndarray], *names: str) -> np.ndarray:
    """Median over pixels per gain channel of the first of `names` present (NaN if none)."""
    for name in names:
        if name in arrays:
            return np.nanmedian(np.atleast_2d(np.asarray(arrays[name], dtype=float)), axis=1)
    return np.full(1, np.nan)


@plotter("camera_calibration", series=block_of, title="along the observation block")
def plot_block(job: PlotJob):
    """The coefficients along an observation block: medians over pixels per gain channel of
    each chunk's factor, pedestal and time shift, and its unusable pixels, by validity start."""
    series = job.series
    times = [parse_time(p["valid_from"]) for p, _ in series]
    quantities = [
        (("factor_applied", "factor"), "median factor"),
        (("pedestal_offset",), "median pedestal offset"),
        (("time_shift_applied", "time_shift"), "median time shift [ns]"),
    ]
    fig, axes = plot_figure(4, 1, 9.0)
    for ax, (names, label) in zip(axes[:, 0], quantities, strict=False):
        values = [_median(a, *names) for _, a in series]
        for channel in range(max(len(v) for v in values)):
            ys = [v[channel] if channel < len(v) else np.nan for v in values]
            ax.plot(times, ys, "o-", label=["high gain", "low gain", "other"][min(channel, 2)])
        ax.set(ylabel=label)
        ax.legend(fontsize="small")
    unusable = [int(np.asarray(a.get("unusable", [])).astype(bool).sum()) for _, a in series]
    axes[3][0].plot(times, unusable, "o-", color="tab:red")
    axes[3][0].set(ylabel="unusable pixels", xlabel="validity start (UTC)")
    time_axes(axes[:, 0], times)
    first = series[0][0]
    fig.suptitle(f"observation block {block_of(first)} (tel {first.get('tel_id')})")
    return fig
