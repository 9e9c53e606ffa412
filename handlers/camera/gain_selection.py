"""Gain-selected calibration events (one channel out of two, the gain per pixel in
`pixel_status`), split back into the camera's two gains.

A pixel's residual differs by gain, so each gain's statistics take only the events in which the
pixel was read out in that gain: `split_by_gain` spreads a one-channel array into two, NaN where
the other gain was stored (or nothing). A chunk then measures, per pixel, the gain in which (at
most of) its flat-field events were stored; the share in the other gain is kept
(`gain_minority_share`). Mixing gains within a chunk is not
averaged away: gain selection cuts on the signal, so each gain's share of a mixed pixel is a
truncated sample whose variance, and the F-factor gain with it, is biased (a 1 % tail cut lowers
the variance by ~6 %). Pixels whose share is over the tolerance are flagged `Outlier.GAIN_MIXED`
and unusable in that chunk.

The other gain of a pixel is not measured: its statistics stay NaN, it sets no outlier bit, and
its applied residual is the identity (`factor_applied` 1, `pedestal_offset` 0, `time_shift` 0),
i.e. ACADA's nominal calibration stands for it. `measured` in the product tells which is which.
A pixel calibrated in a gain no pedestal event was stored in (a flat-field bright enough to
switch it, pedestals never do) has undefined statistics: it is unusable (NaN bit) and applied
as the identity too.
"""

from __future__ import annotations

import numpy as np

__all__ = ["channel_use", "fill_unmeasured", "split_by_gain"]

#: the applied coefficients of an unmeasured gain: ACADA's nominal calibration, uncorrected
IDENTITY = {"factor_applied": 1.0, "pedestal_offset": 0.0, "time_shift_applied": 0.0}


def split_by_gain(values: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """(n_events, 1, n_pixels) values and (n_events, n_pixels) gains (0 high, 1 low, -1 none)
    -> (n_events, 2, n_pixels), NaN where the pixel was not stored in that gain."""
    one = np.asarray(values)[:, 0]
    out = np.full((one.shape[0], 2, one.shape[1]), np.nan, dtype=one.dtype)
    for g in (0, 1):
        out[:, g] = np.where(gain == g, one, np.nan)
    return out


def channel_use(flatfield_n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From the flat-field values per (gain, pixel) of a chunk: `measured` (2, n_pixels), the
    gain each pixel is calibrated in (its dominant one; high gain for a pixel never stored), and
    the share of its events in the other gain (n_pixels,; 0 for a pixel never stored)."""
    n = np.asarray(flatfield_n, dtype=np.float64)
    total = n.sum(axis=0)
    dominant = np.argmax(n, axis=0)
    measured = np.zeros(n.shape, dtype=bool)
    measured[dominant, np.arange(n.shape[1])] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        minority = np.where(total > 0, 1.0 - n.max(axis=0) / total, 0.0)
    return measured, minority


def fill_unmeasured(coefficients: dict[str, np.ndarray], measured: np.ndarray) -> None:
    """Set the applied coefficients of the unmeasured gains to the identity, in place; also
    those of a measured gain left undefined (no pedestal events in that gain: unusable)."""
    for key, value in IDENTITY.items():
        applied = coefficients[key]
        coefficients[key] = np.where(measured & np.isfinite(applied), applied, value)
    coefficients["measured"] = measured
