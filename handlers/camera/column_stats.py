"""Sigma-clipped statistics of each column of a (n_rows, n_columns) array, compiled (numba).

Column by column (copied a block of columns at a time, so the rows are read in order): the
finite values; then at most `max_iterations` times the mean and population standard deviation
of the values kept, and the values farther than `sigma` standard deviations from that mean
dropped, until none is; then the kept values' mean, median and variance (two passes, so no
precision is lost to large offsets or gross outliers). The numbers of astropy's
`sigma_clipped_stats(x, sigma, maxiters, cenfunc="mean", stdfunc="std", axis=0)`.
"""

from __future__ import annotations

import numpy as np
from calibd.handlers.camera.jit import compiled, float_array

__all__ = ["column_stats"]

#: columns copied out at once (a row's segment of them is one or two cache lines)
BLOCK = 16


def _mean_var(w, k):
    s = 0.0
    for i in range(k):
        s += w[i]
    mean = s / k
    s2 = 0.0
    for i in range(k):
        d = w[i] - mean
        s2 += d * d
    return mean, s2 / k


_mean_var = compiled(_mean_var)


def _select(w, k, n):
    """Reorder w[:n] in place so that w[k] is its k-th smallest value (Hoare's quickselect,
    median-of-three pivots); every value left of k is <= w[k], every value right >= it."""
    lo, hi = 0, n - 1
    while hi > lo:
        mid = (lo + hi) // 2
        if w[mid] < w[lo]:
            w[mid], w[lo] = w[lo], w[mid]
        if w[hi] < w[lo]:
            w[hi], w[lo] = w[lo], w[hi]
        if w[hi] < w[mid]:
            w[hi], w[mid] = w[mid], w[hi]
        pivot = w[mid]
        i, j = lo, hi
        while i <= j:
            while w[i] < pivot:
                i += 1
            while w[j] > pivot:
                j -= 1
            if i <= j:
                w[i], w[j] = w[j], w[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


_select = compiled(_select)


def _median(w, n):
    """The median of w[:n] (reordered in place; n >= 1)."""
    half = n // 2
    _select(w, half, n)
    upper = w[half]
    if n % 2:
        return upper
    lower = w[0]
    for i in range(1, half):  # the largest value left of the middle
        if w[i] > lower:
            lower = w[i]
    return 0.5 * (lower + upper)


_median = compiled(_median)


def _column_stats(x, sigma, max_iterations):
    n_rows, n_cols = x.shape
    mean = np.full(n_cols, np.nan)
    median = np.full(n_cols, np.nan)
    var = np.full(n_cols, np.nan)
    kept = np.zeros(n_cols, dtype=np.int64)
    n_valid = np.zeros(n_cols, dtype=np.int64)
    block = np.empty((BLOCK, n_rows))
    for c0 in range(0, n_cols, BLOCK):
        width = min(BLOCK, n_cols - c0)
        counts = np.zeros(BLOCK, dtype=np.int64)
        for i in range(n_rows):  # the finite values of each column of the block, compacted
            for b in range(width):
                v = np.float64(x[i, c0 + b])
                if np.isfinite(v):
                    block[b, counts[b]] = v
                    counts[b] += 1
        for b in range(width):
            w, k = block[b], counts[b]
            n_valid[c0 + b] = k
            if k == 0:
                continue
            m, v = _mean_var(w, k)
            j = k
            for _ in range(max_iterations):
                limit = sigma * np.sqrt(v)
                j = 0
                for i in range(k):
                    if abs(w[i] - m) <= limit:
                        w[j] = w[i]
                        j += 1
                if j == k or j == 0:  # settled, or (sigma < 1) nothing left
                    break
                k = j
                m, v = _mean_var(w, k)
            if j == 0:
                continue
            mean[c0 + b], var[c0 + b], kept[c0 + b] = m, v, k
            median[c0 + b] = _median(w, k)  # last: it reorders the kept values
    return mean, median, var, kept, n_valid


_column_stats = compiled(_column_stats)


def column_stats(
    x: np.ndarray, sigma: float = np.inf, max_iterations: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, median, population variance, values kept, finite values) of each column of
    `x` (n_rows, n_columns); NaN (and 0 kept) where a column has no finite value. Without
    `max_iterations` nothing is clipped: the statistics of the finite values."""
    x = float_array(x)
    if x.ndim != 2:
        raise ValueError(f"column_stats takes a 2-d array, not {x.shape}")
    return _column_stats(x, float(sigma), int(max_iterations))
