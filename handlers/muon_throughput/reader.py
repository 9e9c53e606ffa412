"""Reading muon-ring FITS tables (binary table HDU `MUONS`: `time` (MJD), `optical_efficiency`,
`impact` [length], `fit_valid`, optional `at_limit`; schemas/formats/muon_rings.md), and
ctapipe DL1 HDF5 files (told by their signature; `dl1`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from calibd.handlers.columns import mjd_column, numeric_column
from calibd.handlers.muon_throughput.dl1 import HDF5_SIGNATURE, read_dl1_muons

from calibd.handler_api import BadInput

__all__ = ["COLUMNS", "read_muon_file"]

#: The columns `read_muon_file` returns (and the muon statistics take).
COLUMNS = ("time_mjd", "efficiency", "impact_m", "fit_valid", "at_limit")


def read_muon_file(path: str, tel_id: int | None = None) -> dict[str, np.ndarray]:
    """Columns of a MUONS table, or of telescope `tel_id`'s rings in a ctapipe DL1 HDF5 file
    (`dl1.read_dl1_muons`); BadInput naming the file and the problem."""
    try:
        with open(path, "rb") as f:
            hdf5 = f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError as exc:
        raise BadInput(f"{Path(path).name}: cannot read: {exc}") from None
    if hdf5:
        if tel_id is None:
            raise BadInput(f"{Path(path).name}: a DL1 HDF5 file needs the telescope id")
        return read_dl1_muons(path, tel_id)
    import astropy.units as u
    from astropy.table import QTable

    name = Path(path).name
    try:
        table = QTable.read(path, hdu="MUONS")
    except Exception as exc:
        raise BadInput(f"{name}: cannot read table MUONS: {exc}") from None
    for column in ("time", "optical_efficiency", "impact", "fit_valid"):
        if column not in table.colnames:
            raise BadInput(f"{name}: column {column} missing")
    unit = getattr(table["impact"], "unit", None)
    if unit is None or unit == u.dimensionless_unscaled:
        raise BadInput(f"{name}: column impact has no unit (expected a length, e.g. m)")
    try:
        factor = (1.0 * unit).to_value(u.m)
    except u.UnitConversionError:
        raise BadInput(f"{name}: column impact is in {unit}, not a length") from None

    def column(key: str, dtype: Any) -> np.ndarray:
        return numeric_column(name, key, table[key]).astype(dtype)

    return {
        "time_mjd": mjd_column(name, "time", table["time"]),
        "efficiency": column("optical_efficiency", np.float64),
        "impact_m": column("impact", np.float64) * factor,
        "fit_valid": column("fit_valid", bool),
        "at_limit": (
            column("at_limit", bool) if "at_limit" in table.colnames else np.zeros(len(table), bool)
        ),
    }
