"""Reprocessing requests (`ctao.calibpipe.reprocess_request`): Cat-C products for a period.

The reply is a `ctao.calibpipe.report` (report_type `reprocessing`) listing what was redone,
what was skipped (inputs missing or changed, already reprocessed) and what failed.
"""

from __future__ import annotations

from calibd.handler_api import (
    HandlerResult,
    OutgoingMessage,
    Report,
    ReprocessRequestEvent,
    handler,
    reprocess,
)

__all__ = ["reprocess_request"]


@handler(
    "ctao.calibpipe.reprocess_request",
    name="reprocess",
    algorithm="reprocess-cat-c",
    version="1",
)
async def reprocess_request(event: ReprocessRequestEvent, ctx) -> HandlerResult:
    req = event.data
    result = await reprocess(
        ctx.pipeline,
        req.time_start,
        req.time_end,
        req.product_types,
        req.tel_ids,
        request_id=event.id,
    )
    report = Report(
        report_type="reprocessing",
        title=(
            f"reprocessing {req.time_start:%Y-%m-%d} to {req.time_end:%Y-%m-%d}: "
            f"{len(result.redone)} redone, {len(result.skipped)} skipped, "
            f"{len(result.failed)} failed"
        ),
        period_start=req.time_start,
        period_end=req.time_end,
        product_ids=[p for r in result.redone for p in r["new_product_ids"]],
        details={"requested_by": req.requested_by, "reason": req.reason, **result.as_dict()},
    )
    return HandlerResult(messages=[OutgoingMessage("ctao.calibpipe.report", report, event.id)])
