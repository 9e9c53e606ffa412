"""`ctao.acada.muon_data` -> `optical_throughput_muon` for one telescope.

Rings come inline or as FITS tables (binary table HDU `MUONS`: `time` (MJD), `optical_efficiency`,
`impact` [m], `fit_valid`, optional `at_limit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from calibd.handlers.columns import (
    from_mjd,
    item_columns,
    merge_columns,
    mjd_column,
    numeric_column,
)
from calibd.handlers.throughput.muon import MuonThroughputConfig, muon_throughput

from calibd.handler_api import (
    BadInput,
    HandlerResult,
    MuonDataEvent,
    ProductDraft,
    exporter,
    handler,
)

__all__ = ["muon_data", "read_muon_file"]

_COLUMNS = ("time_mjd", "efficiency", "impact_m", "fit_valid", "at_limit")
_RING_ATTRIBUTES = ("time", "optical_efficiency", "impact_m", "fit_valid", "at_limit")


def read_muon_file(path: str) -> dict[str, np.ndarray]:
    """Columns of a MUONS table; BadInput naming the file and the problem."""
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


def _throughput_from_inputs(
    inline: dict[str, list] | None, files: list[str], config: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Worker-process entry: gather the rings, then the statistics."""
    parts = [read_muon_file(f) for f in files] + ([inline] if inline else [])
    return muon_throughput(**merge_columns(parts, _COLUMNS), config=config)


@handler(
    "ctao.acada.muon_data",
    name="muon_throughput",
    config=MuonThroughputConfig,
    algorithm="muon-ring-sigma-clipped",
    version="1",
)
async def muon_data(event: MuonDataEvent, ctx) -> HandlerResult:
    data = event.data
    files = [str(await ctx.resolve_file(f)) for f in data.files or []]
    inline = None
    if data.rings:
        inline = item_columns(
            data.rings,
            dict(zip(_COLUMNS, _RING_ATTRIBUTES, strict=True)),
        )
    arrays = await ctx.run_cpu(_throughput_from_inputs, inline, files, ctx.config.model_dump())
    n = arrays["n_events"]
    overall = float(np.sum(arrays["mean"] * n) / np.sum(n))
    summary = {
        "mean_optical_throughput": overall,
        "n_chunks": len(n),
        "n_selected": int(arrays["n_selected"][0]),
        "n_input": int(arrays["n_input"][0]),
        "sufficient_statistics": int(arrays["n_selected"][0]) >= ctx.config.min_chunk_events,
    }
    product = ProductDraft(
        product_type="optical_throughput_muon",
        tel_id=data.tel_id,
        valid_from=from_mjd(float(arrays["time_start_mjd"][0])),
        payload={"obs_id": data.obs_id, **summary},
        arrays=arrays,
        summary=summary,
    )
    return HandlerResult(products=[product])


@exporter("optical_throughput_muon")
def export_muon(product: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """FITS: one row per chunk (table THROUGHPUT), times as MJD."""
    import astropy.units as u
    from astropy.table import QTable

    table = QTable(
        {
            k: arrays[k]
            for k in ("time_start_mjd", "time_end_mjd", "n_events", "mean", "median", "std", "sem")
        }
    )
    table["time_start_mjd"].unit = table["time_end_mjd"].unit = u.d
    table.meta.update(
        {
            "EXTNAME": "THROUGHPUT",
            "TEL_ID": product["tel_id"],
            "PRODUCT": product["id"],
            "CATEGORY": product["category"],
        }
    )
    table.write(path, format="fits", overwrite=True)
