"""Camera calibration coefficients by the excess-noise-factor (F-factor) method, and the mask
of unusable pixels (../shared/domain.md, "Camera calibration"; lstchain's
LSTCalibrationCalculator and ctao-calibpipe's CameraCalibratorTool use the same formulas).

Per gain g and pixel i, from run statistics of the pedestal (PED) and flat-field (FF) charges
integrated over the same window of w samples:

    signal S          = FF_mean - PED_mean   (clipped means; or the medians: `signal_statistic`)
    n_pe              = F^2 S^2 / (FF_std^2 - PED_std^2)
    gain [DC/p.e.]    = (FF_std^2 - PED_std^2) / (F^2 S) - B^2 S / F^2
    relative_gain     = S / median_camera(S)
    factor [p.e./DC]  = median_camera(n_pe) / S       (flat-fields and converts at once)
    pedestal_offset   = PED_median / w                (per sample)
    time_shift        = t_i - median_camera(t)        (FF peak-time medians, in samples;
                                                       subtracted from peak times when applied)

Camera medians are taken over the usable pixels of the gain. Outlier reason codes (bit flags,
`outlier_mask` per gain and pixel, `pixel_outlier_mask` their union over the gains):

    1   a statistic is NaN (no valid charge or peak time)
    2   pedestal median off the camera median by more than pedestal_median_k robust spreads
    4   pedestal std off the camera median by more than pedestal_std_k robust spreads
    8   flat-field signal S / median_camera(S) outside flatfield_median_rel
    16  flat-field std off the camera median by more than flatfield_std_k robust spreads
    32  n_pe outside [n_pe_min, n_pe_max]
    64  non-positive signal or excess variance (n_pe and gain undefined)
    128 gain-selected events of the pixel switch gain within the chunk (`gain_selection`)

The robust spread is 1.4826 x the median absolute deviation. A pixel flagged in any gain is
unusable. Stored statistics keep NaN where they are undefined; the *applied* coefficients
(`factor_applied`, `time_shift_applied`) of unusable pixels are the camera median of their gain
(`APPLIED_FALLBACK`). The calibration is valid when the faulty fraction (unusable pixels over
all pixels) is below `max_faulty_fraction`.

A note on the signal: the flat-field charge is a compound Poisson sum, skewed (about 0.15 at
80 p.e.), so its median lies below its mean (by ~0.3 % of S at 80 p.e.). With the median (the
reference packages' choice) the gain comes out ~0.3 % high and n_pe ~0.6 % low; the clipped
mean (the default, `signal_statistic="mean"`) removes that bias.

A note on the variance: the clipping correction of `stats` is exact for Gaussian charges. The
flat-field charge's heavier tails lose a little more variance to the clip, so the excess
variance, and the gain with it, is low by about 0.14 % at 40 p.e. and 0.08 % at 80 p.e. with
the default 4-sigma clip (0.7 % and 0.3 % at 3 sigma; negligible at 5 sigma), and n_pe high by
as much (tests/unit/camera/test_stats.py measures it on Poisson-plus-F charges). Where outlying
flat-field events are rare, `handlers.camera_flatfield.stats.sigma = 5` removes the bias.
"""

from __future__ import annotations

from enum import IntFlag
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

__all__ = [
    "APPLIED_FALLBACK",
    "FFactorConfig",
    "Outlier",
    "calibration_coefficients",
    "pedestal_products",
    "robust_spread",
]

#: What the applied coefficients of unusable pixels are replaced with.
APPLIED_FALLBACK = "camera_median"


class Outlier(IntFlag):
    """Outlier reason bits of `outlier_mask`."""

    NAN = 1
    PEDESTAL_MEDIAN = 2
    PEDESTAL_STD = 4
    FLATFIELD_CHARGE = 8
    FLATFIELD_STD = 16
    N_PE_RANGE = 32
    NON_POSITIVE = 64
    GAIN_MIXED = 128


class FFactorConfig(BaseModel):
    f2: float = Field(default=1.222, gt=1.0, le=3.0)
    systematic_b: float = Field(default=0.0, ge=0.0, le=1.0)
    n_pe_min: float = Field(default=20.0, ge=0.0, le=1e6)
    n_pe_max: float = Field(default=500.0, gt=0.0, le=1e6)
    pedestal_median_k: float = Field(default=5.0, gt=0, le=1000)
    pedestal_std_k: float = Field(default=5.0, gt=0, le=1000)
    flatfield_median_rel: tuple[
        Annotated[float, Field(ge=0, le=100)], Annotated[float, Field(ge=0, le=100)]
    ] = (0.5, 1.5)
    flatfield_std_k: float = Field(default=5.0, gt=0, le=1000)
    max_faulty_fraction: float = Field(default=0.1, gt=0, le=1)
    signal_statistic: Literal["median", "mean"] = "mean"

    @model_validator(mode="after")
    def _ranges(self) -> FFactorConfig:
        if self.n_pe_min >= self.n_pe_max:
            raise ValueError("n_pe_min must be below n_pe_max")
        lo, hi = self.flatfield_median_rel
        if not 0 <= lo < 1 < hi:
            raise ValueError("flatfield_median_rel must be (low < 1, high > 1)")
        return self


def robust_spread(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """1.4826 x the median absolute deviation along `axis`, NaN ignored."""
    med = _nanmedian(x, axis=axis, keepdims=True)
    return 1.4826 * _nanmedian(np.abs(x - med), axis=axis)


def _nanmedian(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """np.nanmedian without the all-NaN warning (an all-NaN slice gives NaN)."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if finite.all():
        return np.median(x, axis=axis, keepdims=keepdims)
    n = finite.sum(axis=axis, keepdims=True)
    y = np.sort(np.where(finite, x, np.nan), axis=axis)
    lo = np.take_along_axis(y, np.maximum((n - 1) // 2, 0), axis)
    hi = np.take_along_axis(y, np.maximum(n // 2, 0), axis)
    med = np.where(n > 0, 0.5 * (lo + hi), np.nan)
    return med if keepdims else np.squeeze(med, axis=axis)


def _deviant(x: np.ndarray, k: float) -> np.ndarray:
    """Pixels (last axis) farther than k robust spreads from the camera median of their gain."""
    med = _nanmedian(x, axis=-1, keepdims=True)
    spread = robust_spread(x, axis=-1)[..., None]
    with np.errstate(invalid="ignore"):
        return np.abs(x - med) > k * spread


def _stats_arrays(stats: dict, label: str) -> tuple[np.ndarray, ...]:
    try:
        arrays = tuple(
            np.asarray(stats[key], dtype=np.float64) for key in ("mean", "median", "std")
        )
    except KeyError as exc:
        raise ValueError(f"{label} statistics lack {exc}") from exc
    if arrays[0].ndim != 2:
        raise ValueError(f"{label} statistics must be shaped (n_gains, n_pixels)")
    return arrays


def pedestal_products(
    ped_stats: dict[str, np.ndarray],
    window_width: int,
    cfg: FFactorConfig | dict | None = None,
) -> dict[str, np.ndarray]:
    """Pedestal per sample and the pedestal outlier bits (1, 2, 4) per (gain, pixel)."""
    cfg = FFactorConfig.model_validate(cfg or {})
    if window_width < 1:
        raise ValueError("window_width must be >= 1")
    mean, median, std = _stats_arrays(ped_stats, "pedestal")
    mask = np.zeros(median.shape, dtype=np.int32)
    mask[~(np.isfinite(median) & np.isfinite(std) & np.isfinite(mean))] |= Outlier.NAN
    mask[_deviant(median, cfg.pedestal_median_k)] |= Outlier.PEDESTAL_MEDIAN
    mask[_deviant(std, cfg.pedestal_std_k)] |= Outlier.PEDESTAL_STD
    return {
        "pedestal_median": median,
        "pedestal_mean": mean,
        "pedestal_std": std,
        "pedestal_offset": median / window_width,
        "pedestal_outlier_mask": mask,
        "window_width": np.array(window_width),
    }


def _camera_median(x: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Per-gain median of x over the usable pixels (all finite pixels if none is usable)."""
    picked = np.where(usable[None, :], x, np.nan)
    med = _nanmedian(picked, axis=-1)
    return np.where(np.isnan(med), _nanmedian(x, axis=-1), med)


def calibration_coefficients(
    ped_stats: dict[str, np.ndarray],
    ff_stats: dict[str, np.ndarray],
    ff_peak_time_median: np.ndarray,
    window_width: int,
    cfg: FFactorConfig | dict | None = None,
    measured: np.ndarray | None = None,
    extra_mask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """F-factor coefficients, outlier bits and summary numbers (see the module docstring).

    `ped_stats`/`ff_stats` are `StreamingStats.result()` dicts (mean, median, std shaped
    (n_gains, n_pixels)); `ff_peak_time_median` the per-pixel median peak time of the
    flat-field run (samples). Arrays are (n_gains, n_pixels) unless named `pixel_*` (n_pixels,)
    or summary (`median_gain`, `median_n_pe`: (n_gains,); `faulty_fraction`, `is_valid`: 0-d).
    `measured` (bool, (n_gains, n_pixels)) names the gains measured per pixel (gain-selected
    data): the others set no outlier bit; `extra_mask` bits are added to `outlier_mask`.
    """
    cfg = FFactorConfig.model_validate(cfg or {})
    ped = pedestal_products(ped_stats, window_width, cfg)
    ff_mean, ff_median, ff_std = _stats_arrays(ff_stats, "flat-field")
    if ff_median.shape != ped["pedestal_median"].shape:
        raise ValueError(
            f"flat-field statistics {ff_median.shape} and pedestal statistics "
            f"{ped['pedestal_median'].shape} differ in shape"
        )
    t_peak = np.asarray(ff_peak_time_median, dtype=np.float64)
    if t_peak.shape != ff_median.shape:
        raise ValueError("ff_peak_time_median must be shaped (n_gains, n_pixels)")
    if cfg.signal_statistic == "median":
        signal = ff_median - ped["pedestal_median"]
    else:
        signal = ff_mean - ped["pedestal_mean"]
    excess_var = ff_std**2 - ped["pedestal_std"] ** 2
    f2, b = cfg.f2, cfg.systematic_b

    mask = ped["pedestal_outlier_mask"].copy()
    finite = np.isfinite(ff_median) & np.isfinite(ff_std) & np.isfinite(ff_mean)
    mask[~(finite & np.isfinite(t_peak))] |= Outlier.NAN
    with np.errstate(invalid="ignore", divide="ignore"):
        defined = (signal > 0) & (excess_var > 0)
        mask[np.isfinite(signal) & np.isfinite(excess_var) & ~defined] |= Outlier.NON_POSITIVE
        n_pe = np.where(defined, f2 * signal**2 / excess_var, np.nan)
        gain = np.where(defined, excess_var / (f2 * signal) - b**2 * signal / f2, np.nan)
        rel = signal / _nanmedian(signal, axis=-1, keepdims=True)
        lo, hi = cfg.flatfield_median_rel
        mask[np.isfinite(rel) & ((rel < lo) | (rel > hi))] |= Outlier.FLATFIELD_CHARGE
        mask[_deviant(ff_std, cfg.flatfield_std_k)] |= Outlier.FLATFIELD_STD
        mask[np.isfinite(n_pe) & ((n_pe < cfg.n_pe_min) | (n_pe > cfg.n_pe_max))] |= (
            Outlier.N_PE_RANGE
        )
    if extra_mask is not None:
        mask |= np.asarray(extra_mask, dtype=mask.dtype)
    if measured is not None:
        mask[~np.asarray(measured, dtype=bool)] = 0

    pixel_mask = np.bitwise_or.reduce(mask, axis=0)
    usable = pixel_mask == 0
    median_signal = _camera_median(signal, usable)[:, None]
    median_n_pe = _camera_median(n_pe, usable)
    median_gain = _camera_median(gain, usable)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative_gain = signal / median_signal
        factor = np.where(signal > 0, median_n_pe[:, None] / signal, np.nan)
    time_shift = t_peak - _camera_median(t_peak, usable)[:, None]
    factor_applied = np.where(usable, factor, _camera_median(factor, usable)[:, None])
    time_shift_applied = np.where(usable & np.isfinite(time_shift), time_shift, 0.0)
    faulty_fraction = float(np.mean(~usable))
    return {
        "signal": signal,
        "n_pe": n_pe,
        "gain": gain,
        "relative_gain": relative_gain,
        "factor": factor,
        "factor_applied": factor_applied,
        "time_shift": time_shift,
        "time_shift_applied": time_shift_applied,
        "pedestal_offset": ped["pedestal_offset"],
        "pedestal_median": ped["pedestal_median"],
        "pedestal_std": ped["pedestal_std"],
        "flatfield_median": ff_median,
        "flatfield_std": ff_std,
        "peak_time_median": t_peak,
        "outlier_mask": mask,
        "pixel_outlier_mask": pixel_mask,
        "unusable": ~usable,
        "median_gain": median_gain,
        "median_n_pe": median_n_pe,
        "faulty_fraction": np.array(faulty_fraction),
        "is_valid": np.array(faulty_fraction < cfg.max_faulty_fraction),
        "window_width": np.array(window_width),
    }
