"""Streaming sigma-clipped statistics per gain and pixel, over the events of a run.

Per chunk of events (axis 0) the same statistics as astropy's
`sigma_clipped_stats(x, sigma, maxiters, cenfunc="mean", stdfunc="std", axis=0)` (what ctapipe's
SigmaClippingAggregator and lstchain's calculators use): iteratively drop values farther than
`sigma` standard deviations from the mean of the values kept so far, at most `max_iterations`
times, then mean, median and population standard deviation of what is left. This module's own
compiled version (`column_stats`) gives the same numbers (tested) in a fraction of the time;
NaN values are ignored.

Chunks are combined into run statistics: the mean weighted by the values kept, the pooled
variance (within-chunk variances plus the spread of the chunk means: Chan et al.'s parallel
update, exact for unclipped data), and the median as the median of the chunk medians (a
pixel's median of a single-chunk run is its plain median). Only per-pixel running sums and the
chunk medians are kept, so memory does not grow with the events.

Clipping truncates the variance. A Gaussian clipped at +-t true standard deviations keeps
c(t) = 1 - 2 t phi(t) / (2 Phi(t) - 1) of its variance (97.3 % at 3, 99.89 % at 4). Iterating
with the *estimated* standard deviation converges where the clip at k estimated standard
deviations is a clip at t true ones with t = k sqrt(c(t)) (2.955 for k = 3), so by default the
clipped variance is divided by c(t) of that fixed point ("iterated"); "single" divides by c(k),
the textbook factor for one clip at a known sigma (0.17 % low in std at k = 3). The correction
makes the F-factor gain, which is proportional to a variance, unbiased for Gaussian data
(see ../shared/domain.md, "Camera calibration").
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
from calibd.handlers.camera.column_stats import column_stats
from pydantic import BaseModel, Field

from calibd.handler_api import BadInput

__all__ = [
    "StatsConfig",
    "StreamingStats",
    "clipped_stats",
    "clipped_variance_fraction",
    "consistency_factor",
    "median_over_events",
]


class StatsConfig(BaseModel):
    sigma: float = Field(default=4.0, gt=0, le=100)
    max_iterations: int = Field(default=5, ge=1, le=100)
    variance_correction: bool = True
    correction_model: Literal["iterated", "single"] = "iterated"


def clipped_variance_fraction(t: float) -> float:
    """c(t): the fraction of its variance a Gaussian keeps when clipped at +-t sigma."""
    pdf = math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    return 1.0 - 2.0 * t * pdf / math.erf(t / math.sqrt(2.0))  # 2 Phi(t) - 1 = erf(t / sqrt 2)


def consistency_factor(sigma: float, model: Literal["iterated", "single"] = "iterated") -> float:
    """The factor the clipped variance is divided by: c(k) ("single") or c(t) at the fixed point
    t = k sqrt(c(t)) of clipping iterated with the estimated sigma ("iterated")."""
    if model == "single":
        return clipped_variance_fraction(sigma)
    t = sigma
    for _ in range(100):
        new = sigma * math.sqrt(clipped_variance_fraction(t))
        if abs(new - t) < 1e-12:
            break
        t = new
    return clipped_variance_fraction(t)


def clipped_stats(
    x: np.ndarray, sigma: float = 4.0, max_iterations: int = 5
) -> dict[str, np.ndarray]:
    """Sigma-clipped mean, median, population variance and count along axis 0 (NaN ignored).

    Returns `mean`, `median`, `var` (uncorrected), `n` (values kept), `n_valid` (non-NaN
    values); NaN (and n = 0) where a column has no finite value (`column_stats`).
    """
    x = np.asarray(x)
    shape = x.shape[1:]
    mean, median, var, n, n_valid = column_stats(x.reshape(len(x), -1), sigma, max_iterations)
    return {
        "mean": mean.reshape(shape),
        "median": median.reshape(shape),
        "var": var.reshape(shape),
        "n": n.reshape(shape),
        "n_valid": n_valid.reshape(shape),
    }


def median_over_events(x: np.ndarray) -> np.ndarray:
    """Median along axis 0 of `x` (n_events, ...), NaN ignored (NaN where a column has no
    finite value)."""
    x = np.asarray(x)
    return column_stats(x.reshape(len(x), -1))[1].reshape(x.shape[1:])


class StreamingStats:
    """Run statistics of charges fed chunk by chunk: `update(chunk)` with arrays shaped
    (n_events, ...) (typically (n_events, n_gains, n_pixels)), then `result()`.

    `source` names the input (the file) in BadInput messages.
    """

    def __init__(self, config: StatsConfig | dict | None = None, *, source: str = "input") -> None:
        self.config = StatsConfig.model_validate(config or {})
        self.source = source
        self._factor = (
            consistency_factor(self.config.sigma, self.config.correction_model)
            if self.config.variance_correction
            else 1.0
        )
        self._n: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None
        self._n_valid: np.ndarray | None = None
        self._medians: list[np.ndarray] = []
        self.n_chunks = 0
        self.n_events = 0

    def update(self, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk)
        if chunk.ndim < 1 or len(chunk) == 0:
            return
        if self._n is not None and chunk.shape[1:] != self._n.shape:
            raise BadInput(
                f"{self.source}: chunk shape {chunk.shape[1:]} differs from {self._n.shape}"
            )
        s = clipped_stats(chunk, self.config.sigma, self.config.max_iterations)
        n_b = s["n"].astype(np.float64)
        mean_b = np.where(n_b > 0, s["mean"], 0.0)
        m2_b = np.where(n_b > 0, s["var"] * n_b / self._factor, 0.0)
        if self._n is None:
            self._n, self._mean, self._m2 = n_b, mean_b, m2_b
            self._n_valid = s["n_valid"].astype(np.int64)
        else:
            n_a = self._n
            n = n_a + n_b
            with np.errstate(invalid="ignore", divide="ignore"):
                delta = mean_b - self._mean
                w = np.where(n > 0, n_b / n, 0.0)
                self._mean = self._mean + delta * w
                self._m2 = self._m2 + m2_b + delta**2 * n_a * w
            self._n = n
            self._n_valid += s["n_valid"]
        self._medians.append(s["median"])
        self.n_chunks += 1
        self.n_events += len(chunk)

    def result(self, *, require_values: bool = True) -> dict[str, np.ndarray]:
        """`mean`, `median`, `std` (corrected when configured), `n_events` (values kept) and
        `n_valid` (non-NaN values) per column; NaN where a column had no finite value.
        Raises BadInput when nothing came or (with `require_values`) every column is
        NaN-only."""
        if self._n is None:
            raise BadInput(f"{self.source}: no events to compute statistics from")
        n = self._n
        if require_values and not np.any(n > 0):
            raise BadInput(f"{self.source}: every pixel's charge is NaN in all events")
        empty = n == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(self._m2 / n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(np.stack(self._medians), axis=0)
        return {
            "mean": np.where(empty, np.nan, self._mean),
            "median": np.where(empty, np.nan, median),
            "std": np.where(empty, np.nan, std),
            "n_events": n.astype(np.int64),
            "n_valid": self._n_valid.copy(),
        }
