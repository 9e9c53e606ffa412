"""Reading the DL2 event tables of a simulation production (schemas/formats/dl2_events.md);
`simulate.write_dl2` writes them.

One table per file, FITS (binary table HDU `EVENTS`) or ECSV, read with astropy; every column
carries its unit and is converted to the one below (a missing or wrong unit is refused).
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable
from calibd.handlers.columns import numeric_column

from calibd.handler_api import BadInput

__all__ = ["COLUMNS", "read_dl2"]

COLUMNS: dict[str, u.UnitBase] = {
    "true_energy": u.TeV,
    "reco_energy": u.TeV,
    "true_source_fov_offset": u.deg,
    "reco_source_fov_offset": u.deg,
    "theta": u.deg,
    "gh_score": u.dimensionless_unscaled,
}


def read_dl2(path: Path) -> QTable:
    """Read and check one DL2 file; raise BadInput naming the file and the problem."""
    name = path.name
    try:
        if name.endswith(".ecsv"):
            table = QTable.read(path, format="ascii.ecsv")
        else:
            table = QTable.read(path, hdu="EVENTS")
    except Exception as exc:
        raise BadInput(f"{name}: cannot read DL2 events: {exc}") from None
    if len(table) == 0:
        raise BadInput(f"{name}: no events")
    out = QTable()
    for column, unit in COLUMNS.items():
        if column not in table.colnames:
            raise BadInput(f"{name}: column {column} missing")
        col = table[column]
        given = getattr(col, "unit", None)
        plain = numeric_column(name, column, col)  # one number per row, else BadInput
        if unit is u.dimensionless_unscaled:
            if given not in (None, u.dimensionless_unscaled):
                raise BadInput(f"{name}: column {column} must be dimensionless, not {given}")
            values = plain.astype(np.float64) * u.one
        else:
            if given is None:
                raise BadInput(f"{name}: column {column} has no unit (expected {unit})")
            try:
                values = u.Quantity(col).to(unit)
            except u.UnitConversionError:
                raise BadInput(
                    f"{name}: column {column} in {given}, not convertible to {unit}"
                ) from None
        bad = int(np.count_nonzero(~np.isfinite(values.value)))
        if bad:
            raise BadInput(f"{name}: column {column} has {bad} NaN or infinite values")
        out[column] = values
    if np.any(out["true_energy"] <= 0) or np.any(out["reco_energy"] <= 0):
        raise BadInput(f"{name}: energies must be positive")
    return out
