"""A handler's result becomes the rows of one transaction: products with provenance, outbox
rows, the waits it parks and the waits it resolves."""

from __future__ import annotations

import json
import platform
import socket
from datetime import UTC, datetime, timedelta

import numpy as np

import calibd
from calibd import codec
from calibd.arrays import arrays_blob
from calibd.config import Settings, config_hash
from calibd.events import CloudEvent
from calibd.ids import new_product_id
from calibd.jsonable import to_jsonable
from calibd.pipeline.context import CallContext
from calibd.pipeline.outbound import Outbound
from calibd.product_check import check_product
from calibd.registry import Handler, HandlerResult, ProductDraft, Wait, product_wait_key
from calibd.store import Completion, OutboxRecord, ProductRecord, format_time
from calibd.transports.base import RawMessage

__all__ = ["WAKE_MARGIN", "RowBuilder", "software_versions"]

#: A product committed after (handler start - margin) wakes a wait parked on its kind at
#: once: the handler may have looked before the product was committed (see Store.commit).
WAKE_MARGIN = timedelta(seconds=2)


def software_versions() -> str:
    """The software a product was made with (JSON), recorded in its provenance."""
    import astropy
    import pydantic

    versions = {
        "calibd": calibd.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "astropy": astropy.__version__,
        "pydantic": pydantic.__version__,
    }
    return json.dumps(versions, sort_keys=True)


def wait_row(
    raw: RawMessage, event: CloudEvent, handler: str, kind: str, key: str, deadline: datetime
) -> dict:
    """The waits-table row parking `event` (its stored form, so it can be run again)."""
    return {
        "handler": handler,
        "kind": kind,
        "key": key,
        "deadline": format_time(deadline),
        "event_source": event.source,
        "event_id": event.id,
        "input_message": codec.stored_form(raw.payload, raw.headers, event),
        "input_transport": raw.transport,
        "input_origin": raw.origin,
    }


class RowBuilder:
    """Turns (message, handler, result) into a `Completion` for the committer."""

    def __init__(self, settings: Settings, outbound: Outbound) -> None:
        self.settings = settings
        self.outbound = outbound
        self._software = software_versions()
        self._host = socket.gethostname()
        self._config_cache: dict[tuple[str, str, int], tuple[str, str]] = {}

    def completion(
        self,
        raw: RawMessage,
        event: CloudEvent,
        ctx: CallContext,
        result: HandlerResult,
        started_at: datetime,
        digest: str | None,
    ) -> Completion:
        """Every row `result` makes; raises BadInput/TypeError on an invalid product or message."""
        handler = ctx.handler
        products: list[ProductRecord] = []
        outbox: list[OutboxRecord] = []
        if result.products:
            config_json, chash = self._config_record(ctx)
            finished_at = format_time(datetime.now(UTC))
            input_files = json.dumps([f.__dict__ for f in ctx.inputs])
            stored = codec.stored_form(raw.payload, raw.headers, event)
        for draft in result.products:
            check_product(draft)  # every number finite or declared missing, else a dead letter
            record = self._product_record(draft, event, handler, chash, ctx)
            record.provenance = {
                "input_message": stored,
                "input_transport": raw.transport,
                "input_origin": raw.origin,
                "input_files": input_files,
                "algorithm": record.algorithm,
                "algorithm_version": record.algorithm_version,
                "handler": handler.name,
                "config": config_json,
                "config_hash": chash,
                "software": self._software,
                "host": self._host,
                "started_at": format_time(started_at),
                "finished_at": finished_at,
            }
            products.append(record)
            outbox.append(self.outbound.ready_notice(record, draft))
        outbox += [self.outbound.message(m) for m in result.messages]
        return Completion(
            status="done",
            transport=raw.transport,
            source=event.source,
            event_id=event.id,
            event_type=event.type,
            products=products,
            outbox=outbox,
            inbox_id=raw.inbox_id,
            waits=[self._wait(raw, event, handler, w, started_at) for w in result.waits],
            resolves=self._resolves(event, products, result),
            digest=digest,
        )

    @staticmethod
    def _resolves(
        event: CloudEvent, products: list[ProductRecord], result: HandlerResult
    ) -> list[tuple[str, str, str]]:
        """Every product resolves the waits on its kind; a result may resolve others."""
        out = [
            (*product_wait_key(p.product_type, p.tel_id), json.dumps({"product_id": p.id}))
            for p in products
        ]
        if result.resolves:
            by = {
                "event_id": event.id,
                "event_type": event.type,
                "product_ids": [p.id for p in products],
            }
            out += [(kind, key, json.dumps(by)) for kind, key in result.resolves]
        return out

    @staticmethod
    def _wait(
        raw: RawMessage, event: CloudEvent, handler: Handler, w: Wait, started_at: datetime
    ) -> dict:
        row = wait_row(raw, event, handler.name, w.kind, w.key, w.deadline)
        row["state"] = json.dumps(to_jsonable(w.state))
        row["since"] = format_time(started_at - WAKE_MARGIN)
        return row

    def _config_record(self, ctx: CallContext) -> tuple[str, str]:
        """The configuration a product records (JSON) and its sha256."""
        key = (ctx.handler.name, ctx.category, ctx.config_version.version)
        cached = self._config_cache.get(key)
        if cached is None:
            doc = {
                "config_version": ctx.config_version.version,
                "handler": ctx.handler.name,
                "category": ctx.category,
                "handler_config": ctx.config.model_dump(mode="json"),
                "site": self.settings.site,
            }
            cached = (json.dumps(doc, sort_keys=True), config_hash(doc))
            self._config_cache[key] = cached
        return cached

    @staticmethod
    def _product_record(
        draft: ProductDraft, event: CloudEvent, handler: Handler, chash: str, ctx: CallContext
    ) -> ProductRecord:
        return ProductRecord(
            id=draft.id or new_product_id(),
            product_type=draft.product_type,
            tel_id=draft.tel_id,
            category=draft.category or ctx.category,
            valid_from=format_time(draft.valid_from),  # type: ignore[arg-type]
            valid_to=format_time(draft.valid_to),
            created_at=format_time(datetime.now(UTC)),  # type: ignore[arg-type]
            input_source=event.source,
            input_event_id=event.id,
            algorithm=draft.algorithm or handler.algorithm,
            algorithm_version=draft.algorithm_version or handler.version,
            config_hash=chash,
            payload=json.dumps(to_jsonable(draft.payload)),
            summary=json.dumps(to_jsonable(draft.summary)),
            arrays=arrays_blob(draft.arrays),
            provenance={},
            config_version=ctx.config_version.version,
            supersedes=list(draft.supersedes),
            truncates=list(draft.truncates),
        )
