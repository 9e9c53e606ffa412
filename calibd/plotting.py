"""Product plots as PNG: the registry handler families put their figures in, and rendering.

@plotter("camera_calibration")                       # /products/ID/plot.png
def plot_camera(job: PlotJob) -> Figure: ...

@plotter("camera_calibration", series=lambda p: p["summary"].get("block"))
def plot_block(job: PlotJob) -> Figure: ...            # /products/ID/series.png

A plot function gets a `PlotJob` (the product, its arrays, its series when registered with a
`series` key: the valid products of the same type, telescope and category with the product's
key, oldest first; calibd's settings) and returns a matplotlib `Figure` made with `figure`
(the Agg canvas, no pyplot state). Rendering is CPU work: it runs in a thread, one figure at a
time (`render_png_async`, `render_series_png_async`).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibd.errors import ConfigurationError

__all__ = [
    "PLOTTERS",
    "SERIES_PLOTTERS",
    "PlotJob",
    "SeriesPlotter",
    "can_plot",
    "figure",
    "plotted_types",
    "plotter",
    "render_png",
    "render_png_async",
    "render_series_png",
    "series_key",
    "time_axes",
]

_LOCK = threading.Lock()  # one figure at a time: matplotlib's font cache and the 2 cores


@dataclass(frozen=True)
class PlotJob:
    """What a plot function gets."""

    product: dict[str, Any]
    arrays: dict[str, np.ndarray]
    #: (product, arrays) of its series, oldest validity first (series plots only)
    series: list[tuple[dict[str, Any], dict[str, np.ndarray]]] = field(default_factory=list)
    #: calibd's `Settings` (None when there are none, e.g. in a unit test)
    settings: Any = None


@dataclass(frozen=True)
class SeriesPlotter:
    fn: Callable[[PlotJob], Any]
    key: Callable[[dict[str, Any]], Hashable | None]
    title: str


PLOTTERS: dict[str, Callable[[PlotJob], Any]] = {}
SERIES_PLOTTERS: dict[str, SeriesPlotter] = {}


def plotter(
    *product_types: str,
    series: Callable[[dict[str, Any]], Hashable | None] | None = None,
    title: str = "over time",
) -> Callable[[Callable], Callable]:
    """Register a figure of products of these types: of one product, or with `series` (a key
    of a product, None when it has no series) of the products sharing its key; `title` names
    the series on the product page."""

    def decorate(fn: Callable) -> Callable:
        for t in product_types:
            table: dict = SERIES_PLOTTERS if series is not None else PLOTTERS
            old = table.get(t)
            if old is not None and (old.fn if series is not None else old) is not fn:
                kind = "series plot" if series is not None else "plot"
                raise ConfigurationError(f"product type {t!r} already has a {kind}")
            table[t] = SeriesPlotter(fn, series, title) if series is not None else fn
        return fn

    return decorate


def figure(rows: int, cols: int, height: float, width: float = 11):
    """A figure on the Agg canvas and its axes (always 2-D)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def time_axes(axes, times: list) -> None:
    """Concise UTC date ticks; an hour around a single time."""
    from datetime import timedelta

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    for ax in np.ravel(axes):
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if times and len(set(times)) == 1:
            ax.set_xlim(times[0] - timedelta(minutes=30), times[0] + timedelta(minutes=30))


def can_plot(product_type: str) -> bool:
    return product_type in PLOTTERS


def plotted_types() -> list[str]:
    return sorted(PLOTTERS)


def series_key(prod: dict[str, Any]) -> tuple[Hashable, str] | None:
    """The product's series key and the series' title (None: no series plot)."""
    entry = SERIES_PLOTTERS.get(prod["product_type"])
    if entry is None:
        return None
    key = entry.key(prod)
    return None if key is None else (key, entry.title)


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def render_png(prod: dict[str, Any], settings: Any = None) -> bytes:
    """The PNG of a product (as `store.product` returns it, arrays blob included)."""
    from calibd.arrays import load_arrays

    job = PlotJob(prod, load_arrays(prod.get("arrays")), settings=settings)
    with _LOCK:
        fig = PLOTTERS[prod["product_type"]](job)
        if not fig.get_suptitle():
            fig.suptitle(f"{prod['product_type']} {prod['id']} (tel {prod.get('tel_id')})")
        return _png(fig)


def render_series_png(
    series: list[tuple[dict[str, Any], dict[str, np.ndarray]]], settings: Any = None
) -> bytes:
    """The PNG of a series (`product_series`), by the first product's series plot."""
    first, arrays = series[0]
    job = PlotJob(first, arrays, series, settings)
    with _LOCK:
        return _png(SERIES_PLOTTERS[first["product_type"]].fn(job))


async def render_png_async(prod: dict[str, Any], settings: Any = None) -> bytes:
    """`render_png` in a thread, off the event loop."""
    return await asyncio.to_thread(render_png, prod, settings)
