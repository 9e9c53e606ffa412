"""numba, as ctapipe's and lstchain's extractors use it: the family's compiled loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

__all__ = ["compiled"]


def compiled(fn: Callable[..., Any]) -> Any:
    """`fn` compiled without the GIL at its first call in a process, or loaded from numba's
    cache (the package's `__pycache__`, or `NUMBA_CACHE_DIR`: the systemd unit sets one in
    the state directory) where a writable one is found."""
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # no writable cache folder: compiled at the first call instead
        return numba.njit(nogil=True)(fn)
