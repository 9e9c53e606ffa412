"""An observation block's calibration stream files -> its camera calibration time series
(runs in worker processes; `block` is the handler).

Two steps, so that a block uses every worker and holds one DL0 file open per worker:
`extract_files` (one call per group of streams, in parallel) reads each file alone with
`dl0_reader`, `read_batch` events at a time, integrates pedestal events (`pedestal_event_types`,
by default PEDESTAL and SKY_PEDESTAL as in the reference pipeline) and flat-field events
(`flatfield_event_types`: FLATFIELD) by their own extractor and spills the charges and peak
times to disk (`block_spill`); `reduce_block` merges each kind in time order across the
parallel streams and chunks and cuts it into overlapping chunks (`series`); each flat-field
chunk gives a row of coefficients. `compute_block` does both in one process,
`compute_block_parallel` over a pool.

DL0 and R1 data here are photo-electrons, pedestal-subtracted by ACADA with its nominal
coefficients, so what the coefficients correct is the RESIDUAL: `factor` (relative gain and
flat-fielding, p.e. per p.e.), `pedestal_offset` (residual pedestal, p.e. per sample),
`time_shift` (samples; `time_shift_ns` with the sampling frequency). Gain-selected data (one
channel, the gain in `pixel_status`) are split back into the two gains (`gain_selection`): both
are in p.e. already, but their residuals differ, so each pixel is calibrated in the gain its
flat-field events were stored in, a pixel switching gains within a chunk (more than
`gain_switch_tolerance` of its events) is flagged GAIN_MIXED, and the gain not measured keeps
ACADA's nominal calibration (identity residual).
"""

from __future__ import annotations

import asyncio
import heapq
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from calibd.handlers.camera.block_spill import SpillInfo, SpillWriter, read_spill
from calibd.handlers.camera.dl0_reader import DL0Header, iter_dl0_events, open_dl0
from calibd.handlers.camera.extract import ExtractorConfig, make_extractor
from calibd.handlers.camera.ffactor import FFactorConfig
from calibd.handlers.camera.gain_selection import split_by_gain
from calibd.handlers.camera.series import (
    EventChunker,
    SeriesConfig,
    chunk_statistics,
    coefficient_series,
    pair_chunks,
)
from calibd.handlers.camera.stats import StatsConfig
from pydantic import BaseModel, Field

from calibd.handler_api import BadInput, make_scratch_dir, release_freed_memory

__all__ = [
    "BlockConfig",
    "block_headers",
    "compute_block",
    "compute_block_parallel",
    "extract_files",
    "reduce_block",
    "stream_groups",
]

#: an ACADA event type code (FLATFIELD 0, PEDESTAL 2, DARK/ELECTRONIC/SKY_PEDESTAL 3/4/5, ...)
EventType = Annotated[int, Field(ge=0, le=255)]


def _extractor(width: int = 12, shift: int = 4, name: str = "global_peak_window"):
    return lambda: ExtractorConfig(name=name, window_width=width, shift=shift)


class BlockConfig(BaseModel):
    series: SeriesConfig = Field(default_factory=SeriesConfig)
    pedestal_event_types: list[EventType] = Field(default=[2, 5], min_length=1, max_length=16)
    flatfield_event_types: list[EventType] = Field(default=[0], min_length=1, max_length=16)
    pedestal_extractor: ExtractorConfig = Field(default_factory=_extractor())
    flatfield_extractor: ExtractorConfig = Field(
        default_factory=_extractor(name="local_peak_window")
    )
    stats: StatsConfig = Field(default_factory=StatsConfig)
    ffactor: FFactorConfig = Field(default_factory=FFactorConfig)
    sampling_frequency_mhz: float = Field(
        default=1024.0, gt=0, le=100_000, description="LSTCam's, as ctapipe-io-zfits describes it"
    )
    read_batch: int = Field(default=32, ge=1, le=100_000)
    gain_switch_tolerance: float = Field(
        default=0.001,
        ge=0,
        le=0.5,
        description="gain-selected data: the share of a pixel's flat-field events in a chunk "
        "that may be in its other gain before it is flagged GAIN_MIXED (unusable)",
    )


def _utc(mjd_tai: float) -> datetime:
    from astropy.time import Time

    return Time(mjd_tai, format="mjd", scale="tai").utc.to_datetime(timezone=UTC)


def block_headers(paths: list[str]) -> list[DL0Header]:
    """The validated headers of a block's files; BadInput when they are not of one block."""
    headers = [open_dl0(p) for p in paths]
    first = headers[0]
    for h in headers[1:]:
        for key in ("tel_id", "obs_id", "sb_id", "n_pixels", "level"):
            if getattr(h, key) != getattr(first, key):
                raise BadInput(
                    f"{h.name}: {key} {getattr(h, key)} differs from {first.name}'s "
                    f"{getattr(first, key)}: not one observation block"
                )
    return headers


KINDS = ("pedestal", "flatfield")


def _extracted(header: DL0Header, cfg: BlockConfig) -> Iterator[tuple]:
    """One file's events of the two kinds, extracted a batch at a time: (kind, MJD TAI,
    charge, peak time, gain), charge and peak time (n, n_channels, n_pixels) float32, gain
    (n, n_pixels) for gain-selected events, else None. Pedestal events' peak times are NaN
    (not computed: only the flat-field peak times make time shifts)."""
    kinds = {t: "pedestal" for t in cfg.pedestal_event_types}
    kinds |= {t: "flatfield" for t in cfg.flatfield_event_types}
    codes = {kind: [t for t, k in kinds.items() if k == kind] for kind in KINDS}
    extractors: dict[str, Any] = {}
    for chunk in iter_dl0_events(header.path, header, cfg.read_batch, event_types=set(kinds)):
        n_samples = chunk.waveform.shape[-1]
        for kind in KINDS:
            pick = np.flatnonzero(np.isin(chunk.event_type, codes[kind]))
            if not pick.size:
                continue
            key = f"{kind}:{n_samples}"
            if key not in extractors:
                config = getattr(cfg, f"{kind}_extractor")
                extractors[key] = make_extractor(
                    config, n_samples, source=header.name, peak_time=kind == "flatfield"
                )
            out = extractors[key](chunk.waveform, pick)  # no copy of the picked waveforms
            gain = None if chunk.gain is None else chunk.gain[pick]
            yield kind, chunk.mjd_tai[pick], out.charge, out.peak_time, gain


def extract_files(
    headers: list[DL0Header], orders: list[int], config: dict[str, Any], spill_dir: str
) -> list[SpillInfo]:
    """Worker step 1: each file's pedestal and flat-field events, extracted and spilled to
    `spill_dir` (one file open at a time); `orders` are the files' places in the block."""
    cfg = BlockConfig.model_validate(config)
    spills = []
    for header, order in zip(headers, orders, strict=True):
        writers = {
            k: SpillWriter(os.path.join(spill_dir, f"{order:05d}-{k}"), k, order) for k in KINDS
        }
        try:
            for kind, t, charge, peak, gain in _extracted(header, cfg):
                writers[kind].add(t, charge, peak, gain)
        finally:
            infos = [w.close() for w in writers.values()]
            release_freed_memory()  # protozfits' buffers of the file (calibd.heap)
        spills += [i for i in infos if i is not None]
    return spills


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


def reduce_block(spills: list[SpillInfo], config: dict[str, Any], name: str) -> dict[str, Any]:
    """Worker step 2: the block's coefficient rows from its spills (`name` names the block's
    files in BadInput messages) and the event counts per kind."""
    cfg = BlockConfig.model_validate(config)
    stats, counts = {}, {}
    for kind in KINDS:
        mine = [i for i in spills if i.kind == kind]
        stats[kind], counts[kind] = _chunk_statistics(mine, cfg) if mine else ([], 0)
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
        gain_tolerance=cfg.gain_switch_tolerance if any(i.gain for i in spills) else None,
    )
    ns_per_sample = 1e3 / cfg.sampling_frequency_mhz
    for row in rows:
        coefficients = row["coefficients"]
        coefficients["time_shift_ns"] = coefficients["time_shift"] * ns_per_sample
        for key in ("valid_from", "valid_to"):
            row[f"{key}_utc"] = None if row[key] is None else _utc(row[key])
    return {"rows": rows, "n_events": counts}


def _checked(config: dict[str, Any]) -> BlockConfig:
    cfg = BlockConfig.model_validate(config)
    if cfg.pedestal_extractor.window_width != cfg.flatfield_extractor.window_width:
        raise BadInput("pedestal and flat-field extractors must integrate the same width")
    return cfg


def _result(headers: list[DL0Header], reduced: dict[str, Any]) -> dict[str, Any]:
    first = headers[0]
    return {
        **reduced,
        "tel_id": first.tel_id,
        "obs_id": first.obs_id,
        "sb_id": first.sb_id,
        "level": first.level,
        "n_pixels": first.n_pixels,
        "files": [h.name for h in headers],
        "streams": sorted({h.data_source or "" for h in headers}),
    }


def compute_block(paths: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """Both steps in this process: the block's coefficient rows and what went into them."""
    _checked(config)
    headers = block_headers(paths)
    with tempfile.TemporaryDirectory(prefix="calibd-block-") as spill_dir:
        spills = extract_files(headers, list(range(len(headers))), config, spill_dir)
        return _result(headers, reduce_block(spills, config, headers[0].name))


def stream_groups(headers: list[DL0Header], n_groups: int) -> list[list[int]]:
    """The files' indices in at most `n_groups` groups of whole streams, balanced by events
    (largest stream first into the lightest group)."""
    streams: dict[str, list[int]] = {}
    for i, h in enumerate(headers):
        streams.setdefault(h.data_source or h.name, []).append(i)
    groups: list[list[int]] = [[] for _ in range(max(1, min(n_groups, len(streams))))]
    load = [0] * len(groups)
    weight = {k: sum(headers[i].n_events for i in v) for k, v in streams.items()}
    for key in sorted(streams, key=lambda k: -weight[k]):
        g = load.index(min(load))
        groups[g] += streams[key]
        load[g] += weight[key]
    return [g for g in groups if g]


async def compute_block_parallel(
    paths: list[str],
    config: dict[str, Any],
    run_cpu: Callable[..., Awaitable[Any]],
    workers: int,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """`compute_block` over a worker pool (`run_cpu`): step 1 once per group of streams, at
    most `workers` at a time, then step 2; spills in a scratch folder of `data_dir` (removed
    after, or at the next start if this process dies: calibd.scratch), else in the system's
    temporary folder."""
    _checked(config)
    headers = await run_cpu(block_headers, paths)
    # made and removed in a thread: the spills of a block are hundreds of MB (event loop)
    if data_dir is None:
        spill_dir = await asyncio.to_thread(tempfile.mkdtemp, prefix="calibd-block-")
    else:
        spill_dir = await asyncio.to_thread(make_scratch_dir, data_dir, "block")
    try:
        calls = [
            run_cpu(extract_files, [headers[i] for i in g], g, config, spill_dir)
            for g in stream_groups(headers, workers)
        ]
        done = await asyncio.gather(*calls, return_exceptions=True)
        failed = [d for d in done if isinstance(d, BaseException)]
        if failed:
            raise failed[0]
        spills = [info for group in done for info in group]
        reduced = await run_cpu(reduce_block, spills, config, headers[0].name)
    finally:
        await asyncio.to_thread(shutil.rmtree, spill_dir, True)
    return _result(headers, reduced)
