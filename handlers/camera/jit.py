"""numba, as ctapipe's and lstchain's extractors use it: the family's compiled loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["compiled", "float_array"]


def compiled(fn: Callable[..., Any]) -> Any:
    """`fn` compiled without the GIL at its first call in a process, or loaded from numba's
    cache (the package's `__pycache__`, or `NUMBA_CACHE_DIR`: the systemd unit sets one in
    the state directory) where a writable one is found."""
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # no writable cache folder: compiled at the first call instead
        return numba.njit(nogil=True)(fn)


def float_array(x: Any) -> np.ndarray:
    """`x` as a C-contiguous float32 or float64 array (other dtypes as float64), the layouts
    the compiled loops are specialised for."""
    x = np.ascontiguousarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
