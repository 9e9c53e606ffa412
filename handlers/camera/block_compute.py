"""An observation block's calibration stream files -> its camera calibration time series
(runs in worker processes; `block` is the handler).

Two steps, so that a block uses every worker and holds one DL0 file open per worker:
`extract_files` (one call per file, as many at once as there are workers) reads each file alone with
`dl0_reader`, `read_batch` events at a time, integrates pedestal events (`pedestal_event_types`,
by default PEDESTAL and SKY_PEDESTAL as in the reference pipeline) and flat-field events
(`flatfield_event_types`: FLATFIELD) by their own extractor and spills the charges and peak
times to disk (`block_spill`); `block_reduce` merges each kind in time order across the
parallel streams and chunks, cuts it into overlapping chunks (`series`) and reduces them to
statistics (the two kinds in parallel); each flat-field chunk gives a row of coefficients.
`compute_block` does both in one process, `compute_block_parallel` over a pool (the files'
headers and checksums, too, are read in parallel).

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
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from calibd.handlers.camera.block_config import KINDS, BlockConfig
from calibd.handlers.camera.block_reduce import block_rows, kind_statistics, of_kind, reduce_block
from calibd.handlers.camera.block_spill import SpillInfo, SpillWriter
from calibd.handlers.camera.dl0_reader import DL0Header, iter_dl0_events, open_dl0
from calibd.handlers.camera.extract import make_extractor

from calibd.handler_api import BadInput, make_scratch_dir, release_freed_memory

__all__ = [
    "BlockConfig",
    "block_headers",
    "compute_block",
    "compute_block_parallel",
    "extract_files",
    "one_block",
    "read_headers",
]


def block_headers(paths: list[str]) -> list[DL0Header]:
    """The validated headers of a block's files; BadInput when they are not of one block."""
    return one_block([open_dl0(p) for p in paths])


def one_block(headers: list[DL0Header]) -> list[DL0Header]:
    """`headers`, checked to be of one block (BadInput naming the first that is not)."""
    first = headers[0]
    for h in headers[1:]:
        for key in ("tel_id", "obs_id", "sb_id", "n_pixels", "level"):
            if getattr(h, key) != getattr(first, key):
                raise BadInput(
                    f"{h.name}: {key} {getattr(h, key)} differs from {first.name}'s "
                    f"{getattr(first, key)}: not one observation block"
                )
    return headers


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


async def _each_file(
    headers: list[DL0Header],
    config: dict[str, Any],
    spill_dir: str,
    run_cpu: Callable[..., Awaitable[Any]],
    workers: int,
) -> list[SpillInfo]:
    """Step 1 file by file, `workers` at a time, each worker taking the next file as it ends
    one (the largest first): whatever the mix of event kinds in each stream (ACADA may send
    all flat-field events to some streams), the workers end within about a file of each
    other. After a failure the files not started yet are not read."""
    room = asyncio.Semaphore(workers)
    failed: list[BaseException] = []

    async def one(i: int) -> list[SpillInfo]:
        async with room:
            if failed:
                return []
            try:
                return await run_cpu(extract_files, [headers[i]], [i], config, spill_dir)
            except BaseException as exc:
                failed.append(exc)
                raise

    order = sorted(range(len(headers)), key=lambda i: -headers[i].n_events)
    done = await asyncio.gather(*(one(i) for i in order), return_exceptions=True)
    _raise_first(done)
    return [info for part in done for info in part]


def read_headers(paths: list[str]) -> list[DL0Header]:
    """Worker step 0: the validated headers of some of a block's files."""
    return [open_dl0(p) for p in paths]


def _raise_first(results: list[Any]) -> None:
    """Raise the first exception among `results` (of gather with return_exceptions)."""
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def compute_block_parallel(
    paths: list[str],
    config: dict[str, Any],
    run_cpu: Callable[..., Awaitable[Any]],
    workers: int,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """`compute_block` over a worker pool (`run_cpu`): the headers (and checksums) read in
    `workers` parts, step 1 file by file (`_each_file`), then step 2; spills in a scratch
    folder of `data_dir` (removed after, or at the next start if this process dies:
    calibd.scratch), else in the system's temporary folder."""
    _checked(config)
    # each file's checksums are verified as its header is read: spread over the workers
    parts = [paths[i::workers] for i in range(min(workers, len(paths)))]
    read = await asyncio.gather(*(run_cpu(read_headers, p) for p in parts), return_exceptions=True)
    _raise_first(read)
    by_path = {h.path: h for part in read for h in part}
    headers = one_block([by_path[p] for p in paths])
    # made and removed in a thread: the spills of a block are hundreds of MB (event loop)
    if data_dir is None:
        spill_dir = await asyncio.to_thread(tempfile.mkdtemp, prefix="calibd-block-")
    else:
        spill_dir = await asyncio.to_thread(make_scratch_dir, data_dir, "block")
    try:
        spills = await _each_file(headers, config, spill_dir, run_cpu, workers)
        by_kind = of_kind(spills)
        done = await asyncio.gather(
            *(run_cpu(kind_statistics, mine, config) for mine in by_kind.values()),
            return_exceptions=True,
        )  # the two kinds in parallel
        _raise_first(done)
        parts = dict(zip(by_kind, done, strict=True))
        gain_selected = any(i.gain for i in spills)
        reduced = await run_cpu(block_rows, parts, config, headers[0].name, gain_selected)
    finally:
        await asyncio.to_thread(shutil.rmtree, spill_dir, True)
    return _result(headers, reduced)
