"""A figure shared by families: summary values of a product type and telescope over nights
(one point per valid product at its validity start, with its uncertainty when it has one)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from calibd.handler_api import PlotJob, parse_time, plot_figure, time_axes

__all__ = ["every_night", "summary_over_time"]


def every_night(prod: dict[str, Any]) -> Hashable:
    """The series key putting every valid product of the type and telescope in one series."""
    return "nights"


def _value(summary: dict[str, Any], key: str | None) -> float:
    value = summary.get(key) if key else None
    return float(value) if isinstance(value, int | float) and value is not None else np.nan


def summary_over_time(job: PlotJob, quantities: list[tuple[str, str | None, str]], title: str):
    """One panel per (summary key, its uncertainty's key or None, axis label)."""
    times = [parse_time(p["valid_from"]) for p, _ in job.series]
    fig, axes = plot_figure(len(quantities), 1, 2.8 * len(quantities) + 0.8)
    for ax, (key, err_key, label) in zip(axes[:, 0], quantities, strict=True):
        summaries = [p.get("summary") or {} for p, _ in job.series]
        values = [_value(s, key) for s in summaries]
        errors = [_value(s, err_key) for s in summaries] if err_key else None
        ax.errorbar(times, values, yerr=errors, fmt="o-", capsize=2)
        ax.set(ylabel=label)
    axes[-1][0].set(xlabel="validity start (UTC)")
    time_axes(axes[:, 0], times)
    first = job.series[0][0]
    fig.suptitle(f"{title} (tel {first.get('tel_id')}, {len(times)} products)")
    return fig
