"""Pedestal and flat-field runs -> `camera_pedestal` and `camera_calibration` products.

- `ctao.acada.pedestal_run` (handler `camera_pedestal`): per gain and pixel the sigma-clipped
  median, mean and std of the pedestal charge, `pedestal_offset` per sample, pedestal outliers.
- `ctao.acada.flatfield_run` (handler `camera_flatfield`): pairs the run with the newest valid
  pedestal of the same telescope whose run started within `pairing_window_h`; if none is stored
  yet, the message waits (in the DB, across restarts) for the next `camera_pedestal` of the
  telescope and completes when it arrives; past `pairing_timeout_s` a `ctao.calibpipe.report`
  (`camera_pairing_failed`) says so. The product holds the F-factor coefficients, the outlier
  mask with reasons and `is_valid`; a `ctao.calibpipe.quality_request` carries its summary.

Both handlers read `handlers.camera_pedestal` / `handlers.camera_flatfield` (`CameraConfig`):
extractor, statistics, chunk size, F^2 and thresholds, all recorded in the provenance. The
pedestal and the flat-field must be integrated over the same window width.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from calibd.handlers.camera.extract import ExtractorConfig, make_extractor
from calibd.handlers.camera.ffactor import (
    APPLIED_FALLBACK,
    FFactorConfig,
    calibration_coefficients,
    pedestal_products,
)
from calibd.handlers.camera.reader import RunHeader, iter_chunks, open_run
from calibd.handlers.camera.stats import StatsConfig, StreamingStats, median_over_events
from pydantic import BaseModel, Field

from calibd.handler_api import (
    BadInput,
    CalibrationRun,
    FlatFieldRunEvent,
    HandlerResult,
    OutgoingMessage,
    PedestalRunEvent,
    PendingWait,
    ProductDraft,
    QualityRequest,
    Report,
    Wait,
    handler,
    load_arrays,
    new_product_id,
    parse_time,
    product_wait_key,
)

__all__ = ["CameraConfig", "flatfield_run", "pedestal_run"]

# products are valid from the run's start onward, until a newer run of the telescope
PEDESTAL = "camera_pedestal"
CALIBRATION = "camera_calibration"
CONVENTIONS = {
    "time_shift": "t_pixel - t_camera_median in samples; subtract it from peak times",
    "unusable_pixels": f"NaN statistics kept; applied coefficients use the {APPLIED_FALLBACK}",
    "factor": "p.e. per DC: median_camera(n_pe) / signal",
}


class CameraConfig(BaseModel):
    extractor: ExtractorConfig = Field(default_factory=ExtractorConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    ffactor: FFactorConfig = Field(default_factory=FFactorConfig)
    chunk_size: int = Field(default=250, ge=10, le=100_000)
    threads: int = Field(default=2, ge=1, le=16)
    pairing_window_h: float = Field(default=12.0, gt=0, le=720)
    pairing_timeout_s: float = Field(default=3600.0, gt=0, le=30 * 86_400)


def _run_statistics(paths: list[str], run_type: str, cfg: CameraConfig) -> dict[str, Any]:
    """Stream every file of a run through the extractor and the clipped statistics."""
    headers = [open_run(p, run_type) for p in paths]
    first = headers[0]
    for h in headers[1:]:
        if (h.tel_id, h.n_gains, h.n_pixels) != (first.tel_id, first.n_gains, first.n_pixels):
            raise BadInput(f"{h.name}: telescope or camera shape differs from {first.name}")
    # one statistics stream per gain, updated in `threads` threads (numpy releases the GIL)
    per_gain = [StreamingStats(cfg.stats, source=first.name) for _ in range(first.n_gains)]
    peak_medians = []  # flat-field only: the median peak time of each chunk
    width = None
    with ThreadPoolExecutor(max_workers=cfg.threads) as threads:
        for path, header in zip(paths, headers, strict=True):
            extractor = None
            if header.mode == "waveform":
                extractor = make_extractor(cfg.extractor, header.n_samples, source=header.name)
            for chunk in iter_chunks(path, header, cfg.chunk_size, extractor):
                updates = [
                    threads.submit(stats.update, chunk.charge[:, g])
                    for g, stats in enumerate(per_gain)
                ]
                if run_type == "FLATFIELD":
                    peak_medians.append(median_over_events(chunk.peak_time))
                for update in updates:
                    update.result()
                width = chunk.window_width if width is None else width
        gains = list(threads.map(StreamingStats.result, per_gain))
    charge = {k: np.stack([g[k] for g in gains]) for k in gains[0]}
    source = "file"
    if width is None:  # image files without WINWIDTH: the configured extractor's width
        width, source = cfg.extractor.window_width, "configuration"
    return {
        "header": {**_header_dict(headers), "window_width_source": source},
        "charge": charge,
        "peak_time_median": (median_over_events(np.stack(peak_medians)) if peak_medians else None),
        "window_width": int(width),
    }


def _header_dict(headers: list[RunHeader]) -> dict[str, Any]:
    return {
        "tel_id": headers[0].tel_id,
        "obs_id": headers[0].obs_id,
        "n_gains": headers[0].n_gains,
        "n_pixels": headers[0].n_pixels,
        "mode": headers[0].mode,
        "n_events": sum(h.n_events for h in headers),
        "n_ignored": sum(h.n_ignored for h in headers),
        "time_start_mjd": min(h.time_start for h in headers),
        "time_end_mjd": max(h.time_end for h in headers),
    }


def check_runs(paths: list[str], run_type: str) -> None:
    """Worker-process entry: the headers and table layout of each file (BadInput if bad)."""
    for path in paths:
        open_run(path, run_type)


def compute_pedestal(paths: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """Worker-process entry for a pedestal run."""
    cfg = CameraConfig.model_validate(config)
    run = _run_statistics(paths, "PEDESTAL", cfg)
    arrays = pedestal_products(run["charge"], run["window_width"], cfg.ffactor)
    arrays["n_events"] = run["charge"]["n_events"]
    return {"header": run["header"], "arrays": arrays}


def compute_flatfield(
    paths: list[str], pedestal: dict[str, np.ndarray], config: dict[str, Any]
) -> dict[str, Any]:
    """Worker-process entry for a flat-field run paired with a pedestal product's arrays."""
    cfg = CameraConfig.model_validate(config)
    run = _run_statistics(paths, "FLATFIELD", cfg)
    name = Path(paths[0]).name
    if int(pedestal["window_width"]) != run["window_width"]:
        raise BadInput(
            f"{name}: integration window of {run['window_width']} samples differs from the "
            f"pedestal's {int(pedestal['window_width'])}"
        )
    if pedestal["pedestal_median"].shape != run["charge"]["median"].shape:
        raise BadInput(
            f"{name}: camera shape {run['charge']['median'].shape} differs from the pedestal's "
            f"{pedestal['pedestal_median'].shape}"
        )
    ped_stats = {
        "mean": pedestal["pedestal_mean"],
        "median": pedestal["pedestal_median"],
        "std": pedestal["pedestal_std"],
    }
    arrays = calibration_coefficients(
        ped_stats, run["charge"], run["peak_time_median"], run["window_width"], cfg.ffactor
    )
    arrays["n_events"] = run["charge"]["n_events"]
    return {"header": run["header"], "arrays": arrays}


#: unusable pixels keep NaN statistics (flagged in the outlier masks): declared missing
PIXEL_MISSING = ["arrays"]


def _medians(*keys: str) -> list[str]:
    """Camera medians over usable pixels, NaN for a gain without any: declared missing."""
    return [f"{part}.{key}" for part in ("payload", "summary") for key in keys]


@handler(
    "ctao.acada.pedestal_run",
    name="camera_pedestal",
    config=CameraConfig,
    algorithm="pedestal-sigma-clipped",
    version="1",
)
async def pedestal_run(event: PedestalRunEvent, ctx) -> HandlerResult:
    data = event.data
    paths = [str(await ctx.resolve_file(f)) for f in data.files]
    out = await ctx.run_cpu(compute_pedestal, paths, ctx.config.model_dump())
    header, arrays = out["header"], out["arrays"]
    _check_telescope(header, data, paths)
    faulty = float(np.mean(np.bitwise_or.reduce(arrays["pedestal_outlier_mask"], axis=0) != 0))
    summary = {
        "n_events": header["n_events"],
        "faulty_fraction": faulty,
        "is_valid": faulty < ctx.config.ffactor.max_faulty_fraction,
        "median_pedestal_per_sample": np.nanmedian(arrays["pedestal_offset"], axis=1).tolist(),
        "window_width": int(arrays["window_width"]),
    }
    product = ProductDraft(
        product_type=PEDESTAL,
        tel_id=data.tel_id,
        valid_from=data.run_start,
        payload={"obs_id": data.obs_id, "run_end": data.run_end, **header, **summary},
        arrays=arrays,
        summary=summary,
        missing=[*PIXEL_MISSING, *_medians("median_pedestal_per_sample")],
    )
    return HandlerResult(products=[product])


def _check_telescope(header: dict[str, Any], data: CalibrationRun, paths: list[str]) -> None:
    if header["tel_id"] != data.tel_id:
        raise BadInput(
            f"{Path(paths[0]).name}: TEL_ID {header['tel_id']} but the message says "
            f"tel_id {data.tel_id}"
        )


async def _pedestal_for(ctx, data: CalibrationRun) -> dict[str, Any] | None:
    """The newest valid pedestal of the telescope within the pairing window of the run."""
    window = timedelta(hours=ctx.config.pairing_window_h)
    rows = await ctx.store.products(product_type=PEDESTAL, tel_id=data.tel_id, limit=200)
    fits_window = [
        r
        for r in rows
        if r["summary"].get("is_valid")
        and abs(parse_time(r["valid_from"]) - data.run_start) <= window
    ]
    return max(fits_window, key=lambda r: r["valid_from"], default=None)


async def _calibrate(ctx, event: FlatFieldRunEvent, pedestal_id: str) -> HandlerResult:
    data = event.data
    paths = [str(await ctx.resolve_file(f)) for f in data.files]
    pedestal = await ctx.store.product(pedestal_id)
    ped_arrays = load_arrays(pedestal["arrays"])
    out = await ctx.run_cpu(compute_flatfield, paths, ped_arrays, ctx.config.model_dump())
    header, arrays = out["header"], out["arrays"]
    _check_telescope(header, data, paths)
    summary = {
        "faulty_fraction": float(arrays["faulty_fraction"]),
        "is_valid": bool(arrays["is_valid"]),
        "median_gain": arrays["median_gain"].tolist(),
        "median_n_pe": arrays["median_n_pe"].tolist(),
        "n_events": header["n_events"],
    }
    product_id = new_product_id()
    product = ProductDraft(
        id=product_id,
        product_type=CALIBRATION,
        tel_id=data.tel_id,
        valid_from=data.run_start,
        payload={
            "obs_id": data.obs_id,
            "run_end": data.run_end,
            "pedestal_product_id": pedestal_id,
            "pedestal_obs_id": pedestal["payload"].get("obs_id"),
            "window_width": int(arrays["window_width"]),
            "extractor": ctx.config.extractor.model_dump(),
            "conventions": CONVENTIONS,
            **header,
            **summary,
        },
        arrays=arrays,
        summary=summary,
        missing=[*PIXEL_MISSING, *_medians("median_gain", "median_n_pe")],
    )
    request = QualityRequest(
        product_id=product_id,
        product_type=CALIBRATION,
        tel_id=data.tel_id,
        reason="new camera calibration coefficients",
        metrics=summary,
    )
    if not summary["is_valid"]:
        ctx.log.warning("camera calibration not valid", faulty_fraction=summary["faulty_fraction"])
    return HandlerResult(
        products=[product],
        messages=[OutgoingMessage("ctao.calibpipe.quality_request", request, product_id)],
    )


async def _pedestal_arrived(pending: PendingWait, ctx) -> HandlerResult:
    """A pedestal of the telescope was stored: pair with it if it suits, else wait on."""
    pedestal = await _pedestal_for(ctx, pending.event.data)
    if pedestal is None:
        ctx.log.info("pedestal arrived but does not suit the flat-field run; still waiting")
        return HandlerResult(
            waits=[Wait(pending.kind, pending.key, pending.deadline, pending.state)]
        )
    return await _calibrate(ctx, pending.event, pedestal["id"])


async def _pairing_failed(pending: PendingWait, ctx) -> HandlerResult:
    """No suitable pedestal before the deadline: report the failure with the reason."""
    data = pending.event.data
    reason = (
        f"no valid pedestal of telescope {data.tel_id} within "
        f"{ctx.config.pairing_window_h:g} h of flat-field run {data.obs_id} arrived before "
        f"{pending.deadline:%Y-%m-%d %H:%M:%S} UTC"
    )
    ctx.log.error("flat-field run not paired", reason=reason)
    report = Report(
        report_type="camera_pairing_failed",
        title=reason,
        period_start=data.run_start,
        period_end=data.run_end,
        details={
            "tel_id": data.tel_id,
            "obs_id": data.obs_id,
            "flatfield_event_id": pending.event.id,
            "reason": reason,
            "waited_since": pending.created_at,
        },
    )
    return HandlerResult(
        messages=[OutgoingMessage("ctao.calibpipe.report", report, pending.event.id)]
    )


@handler(
    "ctao.acada.flatfield_run",
    name="camera_flatfield",
    config=CameraConfig,
    algorithm="ffactor-excess-noise",
    version="1",
    resume=_pedestal_arrived,
    expire=_pairing_failed,
)
async def flatfield_run(event: FlatFieldRunEvent, ctx) -> HandlerResult:
    data = event.data
    pedestal = await _pedestal_for(ctx, data)
    if pedestal is None:
        # refuse a bad file now rather than after the wait
        paths = [str(await ctx.resolve_file(f)) for f in data.files]
        await ctx.run_cpu(check_runs, paths, "FLATFIELD")
        kind, key = product_wait_key(PEDESTAL, data.tel_id)
        deadline = datetime.now(UTC) + timedelta(seconds=ctx.config.pairing_timeout_s)
        ctx.log.info("flat-field run waits for its pedestal", tel_id=data.tel_id)
        return HandlerResult(waits=[Wait(kind, key, deadline, {"obs_id": data.obs_id})])
    return await _calibrate(ctx, event, pedestal["id"])
