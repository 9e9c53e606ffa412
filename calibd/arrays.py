"""The arrays column of a product: named numpy arrays as an uncompressed .npz blob."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["arrays_blob", "load_arrays"]


def arrays_blob(arrays: dict[str, np.ndarray]) -> bytes | None:
    """Encode `arrays` (None when there are none); uncompressed: bit-exact and fast."""
    if not arrays:
        return None
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def load_arrays(blob: bytes | None) -> dict[str, np.ndarray]:
    """Inverse of `arrays_blob`; never unpickles."""
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
