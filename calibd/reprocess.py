"""Reprocessing: run the handlers again on archived inputs to make Cat-C products.

For a time range (validity start), product types and telescopes, each input message of the
Cat-A/B products found is run again by its handler with the Cat-C profile
(`profiles.C`). The new products have category C and supersede the Cat-B ones of the same
interval. An input whose files are missing or changed (sha256) is skipped, as is one that
already has a Cat-C product: the same request twice makes nothing new.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from calibd import codec
from calibd.datafiles import resolve_data_file
from calibd.errors import BadInput, MessageError
from calibd.logs import get_logger
from calibd.progress import Progress
from calibd.store.rules import REPROCESSED
from calibd.transports.base import RawMessage

__all__ = ["ReprocessReport", "check_inputs", "reprocess"]

log = get_logger("calibd.reprocess")


@dataclass
class ReprocessReport:
    request_id: str
    redone: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def check_inputs(input_files_json: str, roots) -> None:
    """Raise BadInput unless every recorded input file still exists with its sha256."""
    for f in json.loads(input_files_json):
        try:
            await asyncio.to_thread(resolve_data_file, f["path"], roots, f["sha256"])
        except BadInput as exc:
            raise BadInput(f"input changed or missing: {exc.detail}") from None


async def reprocess(
    pipeline,
    time_start: datetime,
    time_end: datetime,
    product_types: list[str] | None,
    tel_ids: list[int] | None,
    request_id: str,
    bar: Progress | None = None,
) -> ReprocessReport:
    """Re-run the inputs of the matching products as Cat-C; see the module docstring. `bar`
    counts the candidates."""
    store = pipeline.store
    report = ReprocessReport(request_id=request_id)
    candidates = await store.reprocess_candidates(time_start, time_end, product_types, tel_ids)
    seen: set[tuple[str, str]] = set()
    if bar is not None:
        bar.total = len(candidates)
    for cand in candidates:
        if bar is not None:
            bar.advance(note=f"redone {len(report.redone)}, failed {len(report.failed)}")
        key = (cand.input_source, cand.input_event_id)
        if key in seen:
            continue
        seen.add(key)
        entry = {
            "input_event_id": key[1],
            "input_source": key[0],
            "product_type": cand.product_type,
            "tel_id": cand.tel_id,
        }
        made = await store.products_of_input(*key)
        if any(p.category == REPROCESSED for p in made):
            report.skipped.append({**entry, "reason": "already reprocessed (Cat-C exists)"})
            continue
        prov = (await store.product(cand.id))["provenance"]
        try:
            await check_inputs(prov["input_files"], pipeline.settings.effective_data_roots)
            event = codec.decode(prov["input_message"])
        except MessageError as exc:
            report.skipped.append({**entry, "reason": exc.detail})
            continue
        handler = pipeline.registry.get(event.type)
        if handler is None:
            report.failed.append({**entry, "reason": f"no handler for {event.type}"})
            continue
        raw = RawMessage(
            transport="reprocess",
            origin=f"reprocess {request_id}",
            origin_key=f"reprocess:{request_id}:{key[0]}:{key[1]}",
            payload=prov["input_message"],
        )
        outcome = await pipeline.reprocess(handler, raw, event)
        if outcome.status == "done":
            report.redone.append(
                {
                    **entry,
                    "replaced": [p.id for p in made],
                    "new_product_ids": outcome.product_ids,
                }
            )
        else:
            report.failed.append(
                {
                    **entry,
                    "reason": outcome.reason or outcome.status,
                    "dead_letter_id": outcome.dead_letter_id,
                }
            )
    log.info(
        "reprocessing done",
        request_id=request_id,
        redone=len(report.redone),
        skipped=len(report.skipped),
        failed=len(report.failed),
    )
    return report
