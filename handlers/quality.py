"""QualPipe's verdicts on CalibPipe products (`ctao.qualpipe.assessment`).

Each assessment is stored as a `quality_assessment` product with the validity of the product
it judges, so "was this calibration acceptable?" is a query like any other and carries
provenance. An assessment of a product this database does not hold is still recorded (the
verdict is data), flagged `product_known: false` and logged as a warning.
"""

from __future__ import annotations

from datetime import UTC, datetime

from calibd.handler_api import (
    AssessmentEvent,
    HandlerContext,
    HandlerResult,
    ProductDraft,
    handler,
    parse_time,
)

__all__ = ["record_assessment"]


@handler(
    "ctao.qualpipe.assessment",
    name="quality_assessment",
    algorithm="record-assessment",
    version="1",
)
async def record_assessment(event: AssessmentEvent, ctx: HandlerContext) -> HandlerResult:
    verdict = event.data
    assessed = await ctx.store.product(verdict.product_id)
    if assessed is None:
        ctx.log.warning("assessment of an unknown product", product_id=verdict.product_id)
        valid_from, valid_to, tel_id = event.time or datetime.now(UTC), None, None
    else:
        valid_from = parse_time(assessed["valid_from"])
        valid_to = parse_time(assessed["valid_to"])
        tel_id = assessed["tel_id"]
    product = ProductDraft(
        product_type="quality_assessment",
        tel_id=tel_id,
        valid_from=valid_from,
        valid_to=valid_to,
        payload={
            "request_id": verdict.request_id,
            "product_id": verdict.product_id,
            "product_known": assessed is not None,
            "product_type": assessed["product_type"] if assessed else None,
            "verdict": verdict.verdict,
            "comment": verdict.comment,
            "metrics": verdict.metrics,
            "assessed_by": event.source,
        },
        summary={"verdict": verdict.verdict, "product_id": verdict.product_id},
        missing=["payload.metrics"],  # QualPipe's own figures, recorded as sent (NaN: null)
    )
    # a handler waiting for this verdict (kind "assessment", key = the request's envelope id)
    # resumes in the same transaction
    return HandlerResult(products=[product], resolves=[("assessment", verdict.request_id)])
