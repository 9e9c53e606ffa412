"""FITS export of camera products (`calibd product export ID -o FILE.fits`).

`camera_calibration`: a binary table HDU `CAMERA_CALIBRATION`, one row, columns `factor`,
`gain`, `n_pe`, `pedestal_offset`, `time_shift`, `outlier_mask` (each n_gains x n_pixels) plus
`relative_gain`, `factor_applied`, `time_shift_applied`; `camera_pedestal`: HDU
`CAMERA_PEDESTAL` with the pedestal statistics. Header keys `TEL_ID`, `OBS_ID`, `CATEGORY`,
`VALSTART`, `VALEND`, `PRODUCT`, `ALGORITHM`, `SWVERSION`, and the calibration's `FAULTY`,
`VALID`, `WINWIDTH`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibd.handler_api import __version__, exporter, product_cards

__all__ = ["export_camera"]

_COLUMNS = {
    "camera_calibration": (
        "CAMERA_CALIBRATION",
        {
            "factor": "",
            "gain": "",
            "n_pe": "",
            "pedestal_offset": "",
            "time_shift": "",
            "outlier_mask": "",
            "relative_gain": "",
            "factor_applied": "",
            "time_shift_applied": "",
        },
    ),
    "camera_pedestal": (
        "CAMERA_PEDESTAL",
        {
            "pedestal_median": "",
            "pedestal_mean": "",
            "pedestal_std": "",
            "pedestal_offset": "",
            "pedestal_outlier_mask": "",
        },
    ),
}
_UNITS = {"time_shift": "sample", "time_shift_applied": "sample"}


@exporter("camera_calibration", "camera_pedestal")
def export_camera(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    from astropy.io import fits

    extname, columns = _COLUMNS[product["product_type"]]
    cols = []
    for name in columns:
        value = np.asarray(arrays[name])
        fmt = f"{value.size}{'J' if value.dtype.kind in 'iub' else 'D'}"
        cols.append(
            fits.Column(
                name=name,
                format=fmt,
                dim=f"({value.shape[-1]},{value.shape[0]})",
                unit=_UNITS.get(name),
                array=value[np.newaxis],
            )
        )
    hdu = fits.BinTableHDU.from_columns(cols, name=extname)
    payload = product["payload"]
    hdu.header.update(
        {
            "TEL_ID": product["tel_id"],
            "OBS_ID": payload.get("obs_id"),
            **product_cards(product),
            # 9-letter names, as the product contract has them: HIERARCH cards
            "HIERARCH ALGORITHM": f"{product['algorithm']} {product['algorithm_version']}",
            "HIERARCH SWVERSION": f"calibd {__version__}",
            "WINWIDTH": payload.get("window_width"),
            "FAULTY": (payload.get("faulty_fraction"), "fraction of unusable pixels"),
            "VALID": payload.get("is_valid"),
        }
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
