"""An observation block's calibration stream files -> its camera calibration time series
(runs in a worker process; `block` is the handler).

The files of one (telescope, SB, OB) are read with `dl0_reader`, `read_batch` events at a time,
and their events merged in time order across the parallel streams and chunks. Pedestal events
(`pedestal_event_types`, by default PEDESTAL and SKY_PEDESTAL as in the reference pipeline) and
flat-field events (`flatfield_event_types`: FLATFIELD) are integrated by their own extractor
and cut into overlapping chunks (`series`); each flat-field chunk gives a row of coefficients.

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

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
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

from calibd.handler_api import BadInput

__all__ = ["BlockConfig", "block_headers", "compute_block"]

Event = tuple[float, int, str, np.ndarray, np.ndarray]
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


def _events(header: DL0Header, cfg: BlockConfig, order: int, seen: set[str]) -> Iterator[Event]:
    """One file's events of the two kinds, extracted: (MJD TAI, file order, kind, charge,
    peak time), charge and peak time shaped (n_gains, n_pixels); gain-selected events are
    split into two gains and leave "gain_selected" in `seen`."""
    kinds = {t: "pedestal" for t in cfg.pedestal_event_types}
    kinds |= {t: "flatfield" for t in cfg.flatfield_event_types}
    extractors: dict[str, Any] = {}
    for chunk in iter_dl0_events(header.path, header, cfg.read_batch, event_types=set(kinds)):
        n_samples = chunk.waveform.shape[-1]
        for kind in ("pedestal", "flatfield"):
            pick = np.isin(chunk.event_type, [t for t, k in kinds.items() if k == kind])
            if not pick.any():
                continue
            key = f"{kind}:{n_samples}"
            if key not in extractors:
                config = getattr(cfg, f"{kind}_extractor")
                extractors[key] = make_extractor(config, n_samples, source=header.name)
            out = extractors[key](chunk.waveform[pick])
            charge, peak = out.charge.astype(np.float32), out.peak_time.astype(np.float32)
            if chunk.gain is not None:
                seen.add("gain_selected")
                gain = chunk.gain[pick]
                charge, peak = split_by_gain(charge, gain), split_by_gain(peak, gain)
            for t, q, p in zip(chunk.mjd_tai[pick].tolist(), charge, peak, strict=True):
                yield (t, order, kind, q, p)


def compute_block(paths: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """Worker-process entry: the block's coefficient rows and what went into them."""
    cfg = BlockConfig.model_validate(config)
    headers = block_headers(paths)
    widths = {cfg.pedestal_extractor.window_width, cfg.flatfield_extractor.window_width}
    if len(widths) != 1:
        raise BadInput("pedestal and flat-field extractors must integrate the same width")
    seen: set[str] = set()
    merged = heapq.merge(
        *(_events(h, cfg, i, seen) for i, h in enumerate(headers)), key=lambda e: (e[0], e[1])
    )
    chunkers = {k: EventChunker(cfg.series) for k in ("pedestal", "flatfield")}
    stats: dict[str, list[dict]] = {"pedestal": [], "flatfield": []}
    pending: dict[str, list[Event]] = {"pedestal": [], "flatfield": []}
    counts = {"pedestal": 0, "flatfield": 0}

    def flush(kind: str, final: bool = False) -> None:
        batch = pending[kind]
        chunks = []
        if batch:
            charge = np.stack([e[3] for e in batch])
            peak = np.stack([e[4] for e in batch])
            chunks = chunkers[kind].add(charge, peak, np.array([e[0] for e in batch]))
            pending[kind] = []
        if final:
            chunks += chunkers[kind].finish()
        stats[kind] += [chunk_statistics(c, cfg.stats) for c in chunks]

    for event in merged:
        kind = event[2]
        pending[kind].append(event)
        counts[kind] += 1
        if len(pending[kind]) >= cfg.read_batch:
            flush(kind)
    for kind in pending:
        flush(kind, final=True)
    for kind, found in counts.items():
        if found == 0:
            raise BadInput(f"{headers[0].name} and the other files of the block: no {kind} events")
    pairs = pair_chunks(
        [(s["time_start"], s["time_end"]) for s in stats["flatfield"]],
        [(s["time_start"], s["time_end"]) for s in stats["pedestal"]],
    )
    gain_selected = "gain_selected" in seen
    rows = coefficient_series(
        stats["flatfield"],
        stats["pedestal"],
        pairs,
        widths.pop(),
        cfg.ffactor,
        gain_tolerance=cfg.gain_switch_tolerance if gain_selected else None,
    )
    ns_per_sample = 1e3 / cfg.sampling_frequency_mhz
    for row in rows:
        coefficients = row["coefficients"]
        coefficients["time_shift_ns"] = coefficients["time_shift"] * ns_per_sample
        for key in ("valid_from", "valid_to"):
            row[f"{key}_utc"] = None if row[key] is None else _utc(row[key])
    first = headers[0]
    return {
        "rows": rows,
        "tel_id": first.tel_id,
        "obs_id": first.obs_id,
        "sb_id": first.sb_id,
        "level": first.level,
        "n_pixels": first.n_pixels,
        "n_events": counts,
        "files": [h.name for h in headers],
        "streams": sorted({h.data_source or "" for h in headers}),
    }
