"""The aerosol handlers: FRAM measurements, and the FRAM-down alternative procedure.

`ctao.acada.fram_data` -> `aerosol_extinction` (method `fram`) for the period. FRAM
measurements come inline or as ACADA DL0 monitoring FITS files
(`schemas/formats/fram_monitoring.md`, read by `reader`); `fram.aerosol_calibration` turns
them into the night's vertical aerosol optical depth with its uncertainty, stability,
clear-night flag and Angstrom scaling. A FRAM-down fallback product valid at the period's
start is truncated there: from its validity start the FRAM product replaces the fallback.

`ctao.acada.fram_down`: the seed's "FRAM down" scenario, every step.

1. The alternative procedure for the aerosol extinction of the period runs (`fallback`): the
   configured chain of methods (`ctc`, `last_fram`, `seasonal`) is tried in order, the first
   that has its input wins.
2. The product (`aerosol_extinction`, method and missing input recorded) is stored, valid for
   the reported period; a FRAM product for the same time later truncates it.
3. A `ctao.calibpipe.quality_request` goes to QualPipe, and the message waits (stored, survives
   restarts) for the `ctao.qualpipe.assessment` quoting the request's id.
4. A `ctao.calibpipe.report` (report_type `fram_down`) for SOSS/TOSS states that FRAM data were
   missing, the method that replaced them, the extinction with its uncertainty and QualPipe's
   verdict, or `unassessed` once `assessment_timeout_s` has passed without one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from calibd.handlers.aerosol.aerosol import AEROSOL_PRODUCT, angstrom_table
from calibd.handlers.aerosol.fallback import (
    FramDownConfig,
    Method,
    from_ctc,
    from_last_fram,
    seasonal,
)
from calibd.handlers.aerosol.fram import FramConfig, aerosol_calibration
from calibd.handlers.aerosol.reader import read_fram_file
from calibd.handlers.columns import item_columns, merge_columns

from calibd.handler_api import (
    BadInput,
    FramDataEvent,
    FramDownEvent,
    HandlerResult,
    OutgoingMessage,
    PendingWait,
    ProductDraft,
    QualityRequest,
    Report,
    Wait,
    handler,
    new_product_id,
)

__all__ = ["fram_data", "fram_down"]

_COLUMNS = ("time_mjd", "ra_deg", "dec_deg", "aod", "aod_err", "peak_wavelength_nm")


def _calibrate(
    inline: dict[str, list[float]] | None, files: list[str], config: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Worker-process entry: read the files, merge with the inline measurements, calibrate."""
    parts = [read_fram_file(f) for f in files] + ([inline] if inline else [])
    merged = merge_columns(parts, _COLUMNS, dict.fromkeys(_COLUMNS, np.float64))
    return aerosol_calibration(**merged, config=config)


@handler(
    "ctao.acada.fram_data",
    name="fram",
    config=FramConfig,
    algorithm="fram-vaod-angstrom",
    version="1",
)
async def fram_data(event: FramDataEvent, ctx) -> HandlerResult:
    data, cfg = event.data, ctx.config
    config = cfg.model_dump()
    if data.site is not None:
        config["site"] = {"name": data.site}
    inline = None
    if data.measurements:
        inline = item_columns(
            data.measurements,
            {"time_mjd": "timestamp", **{c: c for c in _COLUMNS if c != "time_mjd"}},
        )
    files = [str(await ctx.resolve_file(f)) for f in data.files or []]
    per_meas, summary = await ctx.run_cpu(_calibrate, inline, files, config)
    arrays = {
        "wavelength_nm": per_meas["requested_wavelength_nm"],
        "tau": per_meas["requested_vaod"],
        "tau_err": per_meas["requested_vaod_err"],
        "tau_with_stratosphere": per_meas["requested_vaod_total"],
        **{
            f"measurement_{k}": per_meas[k]
            for k in ("time_mjd", "zenith_deg", "used", "wavelength_nm", "vaod", "vaod_err")
        },
    }
    fallbacks = [
        p["id"]
        for p in await ctx.store.products(product_type=AEROSOL_PRODUCT, at=data.period_start)
        if p["summary"].get("method") != "fram"
    ]
    if fallbacks:
        ctx.log.info("FRAM is back: fallback extinction truncated", truncated=fallbacks)
    payload = {
        "method": "fram",
        "vaod": summary["mean_vaod"],
        "vaod_err": summary["mean_vaod_err"],
        "angstrom_alpha": cfg.angstrom_alpha,
        **summary,
    }
    product = ProductDraft(
        product_type=AEROSOL_PRODUCT,
        valid_from=data.period_start,
        valid_to=data.period_end,
        payload=payload,
        arrays=arrays,
        summary={
            "method": "fram",
            "vaod": summary["mean_vaod"],
            "vaod_err": summary["mean_vaod_err"],
            "reference_wavelength_nm": summary["reference_wavelength_nm"],
            "clear_night": summary["clear_night"],
            "stability": summary["stability"],
        },
        truncates=fallbacks,
        # not measured: per-measurement values of measurements not used (zenith cut);
        # undefined: the stability of a night with mean VAOD <= 0 and scatter (F = inf)
        missing=[
            "arrays.measurement_vaod",
            "arrays.measurement_vaod_err",
            "payload.stability",
            "summary.stability",
        ],
    )
    return HandlerResult(products=[product])


# --- ctao.acada.fram_down ------------------------------------------------------------------


async def _estimate(
    method: Method, ctx, site: str, start: datetime, cfg: FramDownConfig
) -> dict[str, Any] | None:
    """One method of the fallback chain: look up its input products, then `fallback` does the
    rest."""
    if method == "ctc":
        estimate, warning = from_ctc(
            await ctx.store.best_product("cherenkov_transparency", None, start), cfg
        )
        if warning is not None:
            ctx.log.warning(warning[0], **warning[1])
        return estimate
    if method == "last_fram":
        products = await ctx.store.products(product_type=AEROSOL_PRODUCT, limit=1000)
        return from_last_fram(products, start, cfg)
    return seasonal(site, start, cfg)


def _report(pending: PendingWait, verdict: dict[str, Any] | None) -> HandlerResult:
    """The report to SOSS/TOSS once QualPipe answered (or did not in time)."""
    state, data = pending.state, pending.event.data
    judged = verdict["payload"]["verdict"] if verdict else "unassessed"
    title = (
        f"FRAM data missing {data.period_start:%Y-%m-%d %H:%M}-{data.period_end:%H:%M} UTC: "
        f"extinction from {state['method']}, VAOD {state['vaod']:.3f} +- {state['vaod_err']:.3f}, "
        f"QualPipe: {judged}"
    )
    report = Report(
        report_type="fram_down",
        title=title,
        period_start=data.period_start,
        period_end=data.period_end,
        product_ids=[state["product_id"], *([verdict["id"]] if verdict else [])],
        details={
            "fram_data_missing": True,
            "missing_input": "FRAM",
            "fram_down_reason": state["fram_down_reason"],
            "reported_by": state["reported_by"],
            "method": state["method"],
            "method_detail": state["method_detail"],
            "methods_without_input": state["methods_without_input"],
            "vaod": state["vaod"],
            "vaod_err": state["vaod_err"],
            "reference_wavelength_nm": state["reference_wavelength_nm"],
            "quality_request_id": state["quality_request_id"],
            "verdict": judged,
            "verdict_comment": verdict["payload"].get("comment") if verdict else None,
            "dl1_may_proceed": judged == "acceptable",
            "category": "B",
        },
    )
    return HandlerResult(
        messages=[OutgoingMessage("ctao.calibpipe.report", report, state["product_id"])]
    )


async def _assessed(pending: PendingWait, ctx) -> HandlerResult:
    """QualPipe's assessment arrived: report with its verdict."""
    ids = (pending.resolved_by or {}).get("product_ids") or []
    verdict = await ctx.store.product(ids[0]) if ids else None
    ctx.log.info("FRAM-down fallback assessed", verdict=verdict and verdict["payload"]["verdict"])
    return _report(pending, verdict)


async def _unassessed(pending: PendingWait, ctx) -> HandlerResult:
    """No assessment before the deadline: report the fallback as unassessed."""
    ctx.log.error(
        "no QualPipe assessment before the deadline",
        quality_request_id=pending.key,
        product_id=pending.state["product_id"],
    )
    return _report(pending, None)


@handler(
    "ctao.acada.fram_down",
    name="fram_down",
    config=FramDownConfig,
    algorithm="aerosol-fallback-chain",
    version="1",
    resume=_assessed,
    expire=_unassessed,
)
async def fram_down(event: FramDownEvent, ctx) -> HandlerResult:
    data, cfg = event.data, ctx.config
    site = data.site or ctx.settings.site
    estimate, method, tried = None, None, []
    for method in cfg.fallback_chain:
        estimate = await _estimate(method, ctx, site, data.period_start, cfg)
        if estimate is not None:
            break
        tried.append(method)
    if estimate is None:
        raise BadInput(f"no method of the fallback chain {cfg.fallback_chain} has its input")
    ctx.log.warning("FRAM data missing: aerosol extinction from the fallback", method=method)
    tau, tau_err = angstrom_table(
        estimate["vaod"],
        estimate["vaod_err"],
        cfg.reference_wavelength_nm,
        cfg.requested_wavelengths_nm,
        cfg.angstrom_alpha,
    )
    # the request id derives from the input, so a reproduction gives the same payload
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.id}/{ctx.category}/quality_request"))
    product_id = new_product_id()
    payload = {
        "method": method,
        "missing_input": "FRAM",
        "methods_without_input": tried,
        "site": site,
        "reference_wavelength_nm": cfg.reference_wavelength_nm,
        "vaod": estimate["vaod"],
        "vaod_err": estimate["vaod_err"],
        "angstrom_alpha": cfg.angstrom_alpha,
        "method_detail": estimate["detail"],
        "input_products": estimate["inputs"],
        "fram_down_reason": data.reason,
        "reported_by": data.reported_by,
        "quality_request_id": request_id,
    }
    summary = {"method": method, "vaod": estimate["vaod"], "vaod_err": estimate["vaod_err"]}
    product = ProductDraft(
        id=product_id,
        product_type=AEROSOL_PRODUCT,
        valid_from=data.period_start,
        valid_to=data.period_end,
        payload=payload,
        arrays={"wavelength_nm": tau["wavelength_nm"], "tau": tau["tau"], "tau_err": tau_err},
        summary=summary,
    )
    deadline = datetime.now(UTC) + timedelta(seconds=cfg.assessment_timeout_s)
    request = QualityRequest(
        product_id=product_id,
        product_type=AEROSOL_PRODUCT,
        reason=f"FRAM down: aerosol extinction from the {method} fallback",
        metrics=summary,
        respond_by=deadline,
    )
    return HandlerResult(
        products=[product],
        messages=[
            OutgoingMessage("ctao.calibpipe.quality_request", request, product_id, id=request_id)
        ],
        waits=[Wait("assessment", request_id, deadline, {"product_id": product_id, **payload})],
    )
