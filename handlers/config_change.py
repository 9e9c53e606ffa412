"""Configuration change requests (`ctao.calibpipe.config_change`), the seed's configuration
use cases: an action/state pair per change (set key -> value), validated, applied atomically
at run time, versioned in the DB with who, why, when and the previous and new values.

The reply is a `ctao.calibpipe.report` (report_type `config_change`, subject = the request's
envelope id) saying whether the change was accepted, the new version, or why it was refused.
A refused change is also dead-lettered: reason `config_unauthorised` (its source may not
change those keys: `config_changes.*`) or `config_rejected` (a key not changeable at run time,
no such handler, a value out of its bounds); after a fix, `calibd dead-letters retry ID`.
"""

from __future__ import annotations

from calibd.handler_api import (
    ConfigChangeEvent,
    ConfigRejected,
    HandlerResult,
    OutgoingMessage,
    RefusedRequest,
    Report,
    handler,
)

__all__ = ["config_change"]


@handler(
    "ctao.calibpipe.config_change",
    name="config_change",
    algorithm="apply-config-change",
    version="1",
)
async def config_change(event: ConfigChangeEvent, ctx) -> HandlerResult:
    request = event.data
    asked = [{"key": c.key, "value": c.value} for c in request.changes]
    common = {
        "request_event_id": event.id,
        "requested_by": request.requested_by,
        "reason": request.reason,
    }
    try:
        version, changes = await ctx.runtime.apply(
            ctx.store,
            [(c.key, c.value) for c in request.changes],
            request.requested_by,
            request.reason,
            event.id,
            event.source,
        )
    except ConfigRejected as exc:
        report = Report(
            report_type="config_change",
            title=f"configuration change rejected: {exc}",
            details={
                **common,
                "accepted": False,
                "reason_code": exc.reason,
                "error": str(exc),
                "changes": asked,
                "version_in_force": ctx.runtime.current.version,
            },
        )
        reply = OutgoingMessage("ctao.calibpipe.report", report, event.id)
        raise RefusedRequest(str(exc), reason=exc.reason, replies=[reply]) from None
    ctx.log.info("configuration changed", config_version=version, changes=changes)
    report = Report(
        report_type="config_change",
        title=f"configuration version {version} in force",
        details={**common, "accepted": True, "version": version, "changes": changes},
    )
    return HandlerResult(messages=[OutgoingMessage("ctao.calibpipe.report", report, event.id)])
