"""Worker step 2 of a block (`block_compute`): each kind's spilled charges merged in time order
across the parallel streams and chunks, cut into overlapping chunks (`series`) and reduced to
chunk statistics (`kind_statistics`, the two kinds in parallel); then each flat-field chunk
paired with a pedestal chunk gives a row of coefficients (`block_rows`). `reduce_block` does
both in one process."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
from calibd.handlers.camera.block_config import KINDS, BlockConfig
from calibd.handlers.camera.block_spill import SpillInfo, read_spill
from calibd.handlers.camera.gain_selection import split_by_gain
from calibd.handlers.camera.series import (
    EventChunker,
    chunk_statistics,
    coefficient_series,
    pair_chunks,
)

from calibd.handler_api import BadInput

__all__ = ["block_rows", "kind_statistics", "of_kind", "reduce_block"]


def _utc(mjd_tai: float) -> datetime:
    from astropy.time import Time

    return Time(mjd_tai, format="mjd", scale="tai").utc.to_datetime(timezone=UTC)


def _spill_events(info: SpillInfo, batch: int, peak_time: bool) -> Iterator[tuple]:
    """A spill's events as (MJD TAI, file order, charge, peak time or None), gain-selected
    events split into the two gains."""
    for records in read_spill(info, batch):
        charge = records["charge"]
        peak = records["peak"] if peak_time else None
        if info.gain:
            charge = split_by_gain(charge, records["gain"])
            peak = None if peak is None else split_by_gain(peak, records["gain"])
        for k, t in enumerate(records["t"].tolist()):
            yield t, info.order, charge[k], None if peak is None else peak[k]


def _chunk_statistics(spills: list[SpillInfo], cfg: BlockConfig) -> tuple[list[dict], int]:
    """One kind's chunk statistics from its spills merged in time order, and its event count
    (peak times of flat-field events only: pedestal events have none, `_extracted`)."""
    peak_time = all(i.kind == "flatfield" for i in spills)
    streams = (_spill_events(i, cfg.read_batch, peak_time) for i in spills)
    merged = heapq.merge(*streams, key=lambda e: e[:2])
    chunker = EventChunker(cfg.series, views=True)  # each chunk used at once
    stats: list[dict] = []
    pending: list[tuple] = []
    count = 0

    def flush() -> None:
        if pending:
            charge = np.stack([e[2] for e in pending])
            peak = np.stack([e[3] for e in pending]) if peak_time else None
            chunks = chunker.add(charge, peak, np.array([e[0] for e in pending]))
            stats.extend(chunk_statistics(c, cfg.stats, peak_time) for c in chunks)
            pending.clear()

    for event in merged:
        pending.append(event)
        count += 1
        if len(pending) >= cfg.read_batch:
            flush()
    flush()
    stats.extend(chunk_statistics(c, cfg.stats, peak_time) for c in chunker.finish())
    return stats, count


def kind_statistics(spills: list[SpillInfo], config: dict[str, Any]) -> tuple[list[dict], int]:
    """Worker step 2a: one kind's chunk statistics from its spills, and its event count."""
    cfg = BlockConfig.model_validate(config)
    return _chunk_statistics(spills, cfg) if spills else ([], 0)


def block_rows(
    parts: dict[str, tuple[list[dict], int]],
    config: dict[str, Any],
    name: str,
    gain_selected: bool,
) -> dict[str, Any]:
    """Worker step 2b: the block's coefficient rows from each kind's `kind_statistics`
    (`name` names the block's files in BadInput messages) and the event counts per kind."""
    cfg = BlockConfig.model_validate(config)
    stats = {kind: part[0] for kind, part in parts.items()}
    counts = {kind: part[1] for kind, part in parts.items()}
    for kind in KINDS:
        if counts[kind] == 0:
            raise BadInput(f"{name} and the other files of the block: no {kind} events")
    pairs = pair_chunks(
        [(s["time_start"], s["time_end"]) for s in stats["flatfield"]],
        [(s["time_start"], s["time_end"]) for s in stats["pedestal"]],
    )
    rows = coefficient_series(
        stats["flatfield"],
        stats["pedestal"],
        pairs,
        cfg.flatfield_extractor.window_width,
        cfg.ffactor,
        gain_tolerance=cfg.gain_switch_tolerance if gain_selected else None,
    )
    ns_per_sample = 1e3 / cfg.sampling_frequency_mhz
    for row in rows:
        coefficients = row["coefficients"]
        coefficients["time_shift_ns"] = coefficients["time_shift"] * ns_per_sample
        for key in ("valid_from", "valid_to"):
            row[f"{key}_utc"] = None if row[key] is None else _utc(row[key])
    return {"rows": rows, "n_events": counts}


def of_kind(spills: list[SpillInfo]) -> dict[str, list[SpillInfo]]:
    """The spills of each kind."""
    return {kind: [i for i in spills if i.kind == kind] for kind in KINDS}


def reduce_block(spills: list[SpillInfo], config: dict[str, Any], name: str) -> dict[str, Any]:
    """Step 2 in one process: `kind_statistics` of each kind, then `block_rows`."""
    parts = {kind: kind_statistics(mine, config) for kind, mine in of_kind(spills).items()}
    return block_rows(parts, config, name, any(i.gain for i in spills))
