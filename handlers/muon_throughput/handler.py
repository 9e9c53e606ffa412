"""`ctao.acada.muon_data` -> `optical_throughput_muon` for one telescope.

Rings come inline, as FITS tables (`reader`: binary table HDU `MUONS`, see
schemas/formats/muon_rings.md) or as ctapipe DL1 HDF5 files (`dl1`); `muon` computes the
statistics, `export` writes the product."""

from __future__ import annotations

from typing import Any

import numpy as np
from calibd.handlers.columns import from_mjd, item_columns, merge_columns
from calibd.handlers.muon_throughput.muon import MuonThroughputConfig, muon_throughput
from calibd.handlers.muon_throughput.reader import COLUMNS, read_muon_file

from calibd.handler_api import HandlerResult, MuonDataEvent, ProductDraft, handler

__all__ = ["muon_data"]

_RING_ATTRIBUTES = ("time", "optical_efficiency", "impact_m", "fit_valid", "at_limit")


def _throughput_from_inputs(
    inline: dict[str, list] | None, files: list[str], tel_id: int, config: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Worker-process entry: gather the rings, then the statistics."""
    parts = [read_muon_file(f, tel_id) for f in files] + ([inline] if inline else [])
    return muon_throughput(**merge_columns(parts, COLUMNS), config=config)


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
            dict(zip(COLUMNS, _RING_ATTRIBUTES, strict=True)),
        )
    arrays = await ctx.run_cpu(
        _throughput_from_inputs, inline, files, data.tel_id, ctx.config.model_dump()
    )
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
