"""`ctao.acada.calibration_stream_file` -> `camera_calibration` products, one per chunk of an
observation block's calibration events (the time series of `block_compute`).

A telescope writes its calibration events in several parallel streams (SDH000..), each in
chunk files, and ACADA triggers each file when it closes; nothing says how many files a block
has. Each file's message is checked and parks a wait for its block (tel_id, SB, OB) until
`settle_s` after it arrived when the block has files of all `streams` streams, else
`quiet_s`: the waits are in the database, so a restart loses nothing. When a file's wait
expires, the block's files are those of the block with a trigger in its directory; the wait
of the newest file computes the block (an older file's wait steps aside; if the newest file's
own message failed, the older wait computes it once `compute_allowance_s` more has passed
without a product, so a slow computation is not done twice). A file that
arrives after its block was computed (a late file) computes the block again with every file:
the new products supersede the block's earlier ones, and a `camera_block_late_files` report
says which files came late. `calibd reproduce` computes a chunk's block again from the files
its product recorded (`_reproduce`).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from calibd.handlers.camera.block_compute import (
    BlockConfig,
    block_headers,
    compute_block_parallel,
)
from pydantic import BaseModel, Field

from calibd.handler_api import (
    BadInput,
    CalibrationStreamFileEvent,
    HandlerResult,
    OutgoingMessage,
    PendingWait,
    ProductDraft,
    Report,
    Wait,
    handler,
    parse_dl0_name,
    parse_time,
)

__all__ = ["CameraBlockConfig", "calibration_stream_file"]

CALIBRATION = "camera_calibration"
WAIT_KIND = "camera_block"
CONVENTIONS = {
    "data": "DL0/R1 photo-electrons, pedestal-subtracted by ACADA: coefficients are residual",
    "factor": "p.e. per p.e.: median_camera(n_pe) / signal (relative gain and flat-fielding)",
    "pedestal_offset": "residual pedestal, p.e. per sample",
    "time_shift": "t_pixel - t_camera_median in samples (time_shift_ns in ns); subtract it",
}


class CameraBlockConfig(BaseModel):
    block: BlockConfig = Field(default_factory=BlockConfig)
    streams: int = Field(default=4, ge=1, le=64, description="Parallel streams per telescope")
    settle_s: float = Field(default=120.0, ge=0, le=86_400)
    quiet_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    compute_allowance_s: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86_400,
        description=(
            "How long computing a block may take (pipeline.handler_timeout_s): an older file's "
            "wait computes the block itself only this long after the newest file's wait "
            "expired without a product (that file's message failed)"
        ),
    )
    instrument_file: Path | None = Field(
        default=None,
        description="A ctapipe HDF5 file holding /configuration/instrument (e.g. "
        "SubarrayDescription.to_hdf of the DL0 source's subarray): the instrument description "
        "`calibd product export ID -o FILE.h5` copies into the monitoring file",
    )


def block_key(tel_id: int, sb_id: int, obs_id: int) -> str:
    return f"tel{tel_id}:sb{sb_id}:ob{obs_id}"


def block_files(directory: Path, tel_id: int, sb_id: int, obs_id: int) -> list[tuple[int, Path]]:
    """The block's calibration stream files with a trigger in `directory`, as (trigger mtime
    in ns, path), oldest first (blocking)."""
    found = []
    for entry in os.scandir(directory):
        if not entry.name.endswith(".trigger"):
            continue
        try:
            name = parse_dl0_name(entry.name[: -len(".trigger")])
        except ValueError:
            continue
        if (name.tel_id, name.sb_id, name.obs_id, name.stream) != (tel_id, sb_id, obs_id, "CAL"):
            continue
        target = directory / entry.name[: -len(".trigger")]
        if target.is_file():
            found.append((entry.stat(follow_symlinks=False).st_mtime_ns, target))
    return sorted(found)


def check_file(path: str, tel_id: int, sb_id: int, obs_id: int) -> None:
    """Worker-process entry: the file is a readable stream file of the block it names."""
    (header,) = block_headers([path])
    found = {"tel_id": header.tel_id, "obs_id": header.obs_id, "sb_id": header.sb_id}
    for key, value in {"tel_id": tel_id, "obs_id": obs_id, "sb_id": sb_id}.items():
        if found[key] is not None and found[key] != value:
            raise BadInput(f"{header.name}: {key} {found[key]} but the message says {value}")


async def _block_files(data: Any) -> list[tuple[int, Path]]:
    directory = Path(data.file.uri).parent
    return await asyncio.to_thread(block_files, directory, data.tel_id, data.sb_id, data.obs_id)


async def _expired(pending: PendingWait, ctx) -> HandlerResult:
    data = pending.event.data
    files = await _block_files(data)
    if not files:
        raise BadInput(f"block {pending.key}: none of its files is left in {data.file.uri}")
    newest_ns, newest = files[-1]
    earlier = await _block_products(ctx, data)
    computed = max((parse_time(p["created_at"]) for p in earlier), default=None)
    newest_at = datetime.fromtimestamp(newest_ns / 1e9, UTC)
    if computed is not None and computed >= newest_at:
        return HandlerResult()  # computed after its newest file arrived
    mine = Path(pending.state["file"])
    if mine != newest and not pending.state.get("fallback"):
        allowance = ctx.config.quiet_s + ctx.config.compute_allowance_s
        later = max(datetime.now(UTC), newest_at) + timedelta(seconds=allowance)
        state = {**pending.state, "fallback": True}
        return HandlerResult(waits=[Wait(pending.kind, pending.key, later, state)])
    late = []
    if computed is not None:
        late = [f.name for ns, f in files if datetime.fromtimestamp(ns / 1e9, UTC) > computed]
    return await _compute(ctx, data, [f for _, f in files], [p["id"] for p in earlier], late)


async def _reproduce(event: CalibrationStreamFileEvent, ctx, product: dict) -> HandlerResult:
    """`calibd reproduce`: the block of `product` computed again from the files it recorded
    (the payload's `files`, in the directory of the message's file), with its late files."""
    directory = Path(event.data.file.uri).parent
    files = [directory / name for name in product["payload"]["files"]]
    return await _compute(ctx, event.data, files, [], product["payload"]["late_files"])


async def _compute(
    ctx, data, files: list[Path], supersedes: list[str], late: list[str]
) -> HandlerResult:
    """Compute the block of `files` (those of `block_files`): its products supersede
    `supersedes`; `late` names the files that came after it was computed before."""
    paths = [str(await ctx.resolve_file(str(f))) for f in files]
    out = await compute_block_parallel(
        paths, ctx.config.block.model_dump(), ctx.run_cpu, ctx.cpu_workers, ctx.settings.data_dir
    )
    streams = out["streams"]
    rows = out["rows"]
    drafts = [
        _draft(ctx, data, out, row, k, len(rows), supersedes, late) for k, row in enumerate(rows)
    ]
    if len(streams) < ctx.config.streams:
        ctx.log.warning("block computed with missing streams", streams=streams)
    messages = []
    if late:
        ctx.log.warning("late files: block computed again", late_files=late)
        report = Report(
            report_type="camera_block_late_files",
            title=f"telescope {data.tel_id} block {data.obs_id}: {len(late)} file(s) came late",
            period_start=drafts[0].valid_from,
            product_ids=[d.id for d in drafts if d.id],
            details={"tel_id": data.tel_id, "obs_id": data.obs_id, "late_files": late},
        )
        messages.append(OutgoingMessage("ctao.calibpipe.report", report, f"{data.obs_id}-late"))
    return HandlerResult(products=drafts, messages=messages)


def _draft(ctx, data, out, row, k, n, supersedes, late) -> ProductDraft:
    coefficients = row["coefficients"]
    valid_from = data.block_start if k == 0 else row["valid_from_utc"]
    summary = {
        "block": block_key(data.tel_id, data.sb_id, data.obs_id),
        "chunk": k,
        "n_chunks": n,
        "faulty_fraction": float(coefficients["faulty_fraction"]),
        "is_valid": bool(coefficients["is_valid"]),
        "median_gain": np.asarray(coefficients["median_gain"]).tolist(),
        "median_n_pe": np.asarray(coefficients["median_n_pe"]).tolist(),
        "n_events": row["flatfield_events"],
    }
    payload = {
        "obs_id": data.obs_id,
        "sb_id": data.sb_id,
        "level": out["level"],
        "streams": out["streams"],
        "files": out["files"],
        "late_files": late,
        "pedestal_events": row["pedestal_events"],
        "flatfield_span_mjd_tai": list(row["flatfield_span"]),
        "pedestal_span_mjd_tai": list(row["pedestal_span"]),
        "extractors": {
            kind: getattr(ctx.config.block, f"{kind}_extractor").model_dump()
            for kind in ("pedestal", "flatfield")
        },
        "conventions": CONVENTIONS,
        **summary,
    }
    arrays = {
        key: np.asarray(value)
        for key, value in coefficients.items()
        if isinstance(value, np.ndarray) and value.ndim >= 1
    }
    return ProductDraft(
        product_type=CALIBRATION,
        tel_id=data.tel_id,
        valid_from=valid_from,
        valid_to=row["valid_to_utc"],
        payload=payload,
        arrays=arrays,
        summary=summary,
        supersedes=supersedes,
        missing=["arrays", *[f"{p}.{m}" for p in ("payload", "summary") for m in _MEDIANS]],
    )


_MEDIANS = ("median_gain", "median_n_pe")


async def _block_products(ctx, data) -> list[dict[str, Any]]:
    key = block_key(data.tel_id, data.sb_id, data.obs_id)
    rows = await ctx.store.products(product_type=CALIBRATION, tel_id=data.tel_id, limit=1000)
    return [r for r in rows if r["summary"].get("block") == key]


@handler(
    "ctao.acada.calibration_stream_file",
    name="camera_block",
    config=CameraBlockConfig,
    algorithm="ffactor-time-series",
    version="1",
    expire=_expired,
    reproduce=_reproduce,
)
async def calibration_stream_file(event: CalibrationStreamFileEvent, ctx) -> HandlerResult:
    data = event.data
    path = await ctx.resolve_file(data.file)
    await ctx.run_cpu(check_file, str(path), data.tel_id, data.sb_id, data.obs_id)
    files = await _block_files(data)
    streams = {parse_dl0_name(p.name).source for _, p in files}
    wait = ctx.config.settle_s if len(streams) >= ctx.config.streams else ctx.config.quiet_s
    deadline = datetime.now(UTC) + timedelta(seconds=wait)
    key = block_key(data.tel_id, data.sb_id, data.obs_id)
    ctx.log.info("calibration stream file waits for its block", block=key, streams=len(streams))
    return HandlerResult(waits=[Wait(WAIT_KIND, key, deadline, {"file": str(path)})])
