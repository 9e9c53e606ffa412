"""`ctao.acada.fram_down`: the seed's "FRAM down" scenario, every step.

1. The alternative procedure for the aerosol extinction of the period runs: the configured
   chain of methods is tried in order, the first that has its input wins:
   - `ctc`: the Cherenkov transparency coefficient (`cherenkov_transparency` product) valid
     in the period: extra vertical aerosol depth -ln(T) cos(z) over the clear reference
     (skipped when T is outside (0, `ctc_max`]: not normalised to a clear reference night);
   - `last_fram`: the newest FRAM-based `aerosol_extinction` product no older than
     `last_fram_max_age_h`, its uncertainty widened with the age;
   - `seasonal`: the site's monthly climatological default.
   Each method adds its own systematic uncertainty (`*_systematic`).
2. The product (`aerosol_extinction`, method and missing input recorded) is stored, valid for
   the reported period; a FRAM product for the same time later truncates it.
3. A `ctao.calibpipe.quality_request` goes to QualPipe, and the message waits (stored, survives
   restarts) for the `ctao.qualpipe.assessment` quoting the request's id.
4. A `ctao.calibpipe.report` (report_type `fram_down`) for SOSS/TOSS states that FRAM data were
   missing, the method that replaced them, the extinction with its uncertainty and QualPipe's
   verdict, or `unassessed` once `assessment_timeout_s` has passed without one.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from calibd.handlers.atmosphere.aerosol import AEROSOL_PRODUCT, angstrom_table
from calibd.handlers.stored import stored_number, stored_numbers
from pydantic import BaseModel, Field

from calibd.handler_api import (
    BadInput,
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
    parse_time,
)

__all__ = ["FramDownConfig", "fram_down"]

Method = Literal["ctc", "last_fram", "seasonal"]

#: Monthly vertical aerosol optical depths at the reference wavelength, January first.
#: PLACEHOLDERS of the right order (a clear high-altitude site: 0.02-0.05; La Palma's summer
#: Saharan dust intrusions raise July-August); each site must set its own climatology.
SEASONAL_PLACEHOLDERS = {
    "CTAO-North": [0.03, 0.03, 0.04, 0.04, 0.04, 0.05, 0.07, 0.07, 0.05, 0.04, 0.03, 0.03],
    "CTAO-South": [0.02] * 12,
}


class FramDownConfig(BaseModel):
    fallback_chain: list[Method] = Field(
        default_factory=lambda: ["ctc", "last_fram", "seasonal"], min_length=1
    )
    reference_wavelength_nm: float = Field(default=400.0, ge=200, le=700)
    angstrom_alpha: float = Field(default=1.3, ge=0, le=4)
    requested_wavelengths_nm: list[Annotated[float, Field(ge=200, le=700)]] = Field(
        default_factory=lambda: [355.0, 400.0, 450.0, 532.0], min_length=1, max_length=100
    )
    ctc_reference_vaod: float = Field(default=0.03, ge=0, le=5)
    ctc_systematic: float = Field(default=0.02, ge=0, le=5)
    ctc_zenith_deg: float = Field(default=20.0, ge=0, lt=90)
    ctc_max: float = Field(default=1.5, gt=0, le=100)
    last_fram_max_age_h: float = Field(default=24.0, gt=0, le=8760)
    last_fram_widening_per_h: float = Field(default=0.001, ge=0, le=1)
    seasonal_vaod: dict[
        str,
        Annotated[list[Annotated[float, Field(ge=0, le=5)]], Field(min_length=12, max_length=12)],
    ] = Field(default_factory=lambda: SEASONAL_PLACEHOLDERS, max_length=10)  # 12 months a site
    seasonal_systematic: float = Field(default=0.03, ge=0, le=5)
    assessment_timeout_s: float = Field(default=7200.0, gt=0, le=30 * 86_400)


async def _from_ctc(ctx, start: datetime, cfg: FramDownConfig) -> dict[str, Any] | None:
    ctc = await ctx.store.best_product("cherenkov_transparency", None, start)
    if ctc is None or ctc["summary"].get("too_few_telescopes"):
        return None
    values = stored_numbers(ctc["summary"], "ctc", "ctc_err")
    if values is None:  # missing values: nothing to derive the extinction from
        ctx.log.warning("transparency product without a coefficient, not used", product=ctc["id"])
        return None
    t, t_err = values
    if not 0 < t <= cfg.ctc_max:  # not normalised to a clear reference night: unusable here
        ctx.log.warning("transparency coefficient out of range, not used", ctc=t, max=cfg.ctc_max)
        return None
    cos_z = math.cos(
        math.radians(stored_number(ctc["summary"], "mean_zenith_deg") or cfg.ctc_zenith_deg)
    )
    vaod = max(cfg.ctc_reference_vaod - math.log(t) * cos_z, 0.0)
    stat = t_err / t * cos_z
    return {
        "vaod": vaod,
        "vaod_err": math.hypot(stat, cfg.ctc_systematic),
        "inputs": [ctc["id"]],
        "detail": f"Cherenkov transparency coefficient {t:.3f} +- {t_err:.3f}",
    }


_FRAM_VALUES = ("vaod", "vaod_err", "reference_wavelength_nm")


async def _from_last_fram(ctx, start: datetime, cfg: FramDownConfig) -> dict[str, Any] | None:
    oldest = start - timedelta(hours=cfg.last_fram_max_age_h)
    candidates = [
        p
        for p in await ctx.store.products(product_type=AEROSOL_PRODUCT, limit=1000)
        if p["summary"].get("method") == "fram"
        and oldest <= parse_time(p["valid_from"]) <= start
        # a product with missing values (stored null) cannot stand in: skip it
        and stored_numbers(p["summary"], *_FRAM_VALUES) is not None
    ]
    if candidates:
        p = max(candidates, key=lambda p: p["valid_from"])
        age_h = (start - parse_time(p["valid_from"])).total_seconds() / 3600
        vaod, err, wavelength = stored_numbers(p["summary"], *_FRAM_VALUES)  # type: ignore[misc]
        to_reference = wavelength / cfg.reference_wavelength_nm
        return {
            "vaod": vaod * to_reference**cfg.angstrom_alpha,
            "vaod_err": math.hypot(err, age_h * cfg.last_fram_widening_per_h),
            "inputs": [p["id"]],
            "detail": f"FRAM product {p['id']} from {age_h:.1f} h before the period",
        }
    return None


def _seasonal(site: str, start: datetime, cfg: FramDownConfig) -> dict[str, Any] | None:
    months = cfg.seasonal_vaod.get(site)
    if months is None:
        return None
    return {
        "vaod": months[start.month - 1],
        "vaod_err": cfg.seasonal_systematic,
        "inputs": [],
        "detail": f"seasonal default for {site}, month {start.month}",
    }


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
        if method == "ctc":
            estimate = await _from_ctc(ctx, data.period_start, cfg)
        elif method == "last_fram":
            estimate = await _from_last_fram(ctx, data.period_start, cfg)
        else:
            estimate = _seasonal(site, data.period_start, cfg)
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
