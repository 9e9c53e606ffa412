"""`calibd reproduce PRODUCT_ID`: re-run a product's algorithm from its provenance record.

The recorded input message is decoded again, every recorded input file is checked against
its sha256, the handler runs (its `reproduce` hook when it has one: a product a wait hook
made, such as a DL0 block's chunks) with the recorded configuration (not the one in force now) and
sees the database as it stood when the product was made (products created before it). The
result is compared with the stored product: arrays bit for bit, payload exactly. Nothing is
written. The answer is `identical`, `different` (with what differs) or `not_reproducible`
(with why: inputs changed, handler gone, algorithm version changed, configuration no longer
valid).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pydantic import ValidationError

from calibd import codec
from calibd.arrays import load_arrays
from calibd.errors import MessageError
from calibd.jsonable import to_jsonable
from calibd.logs import get_logger
from calibd.registry import HandlerResult
from calibd.reprocess import check_inputs
from calibd.runtime_config import ConfigVersion
from calibd.store import parse_time

__all__ = ["reproduce"]

log = get_logger("calibd.reproduce")


class _AsOfStore:
    """The product queries a handler makes, answered as the database stood at `as_of`."""

    def __init__(self, store, as_of: str) -> None:
        self._store, self._as_of = store, as_of

    async def best_product(self, product_type, tel_id, at):
        rows = await self._store.products(
            product_type=product_type, tel_id=tel_id, at=at, limit=1, as_of=self._as_of
        )
        return rows[0] if rows else None

    async def products(self, **filters):
        return await self._store.products(**filters, as_of=self._as_of)

    async def product(self, product_id):
        found = await self._store.product(product_id)
        return found if found and found["created_at"] < self._as_of else None


def _compare(stored: dict[str, Any], draft) -> list[str]:
    differences = []
    arrays = load_arrays(stored["arrays"])
    if set(arrays) != set(draft.arrays):
        differences.append(f"array names {sorted(arrays)} != {sorted(draft.arrays)}")
    for name in sorted(set(arrays) & set(draft.arrays)):
        a, b = arrays[name], np.asarray(draft.arrays[name])
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            differences.append(f"array {name} differs")
    if json.loads(json.dumps(to_jsonable(draft.payload))) != stored["payload"]:
        differences.append("payload differs")
    return differences


async def reproduce(pipeline, product_id: str) -> dict[str, Any]:
    store = pipeline.store
    prod = await store.product(product_id)
    if prod is None:
        return {"product_id": product_id, "status": "not_reproducible", "reason": "no such product"}
    out: dict[str, Any] = {"product_id": prod["id"], "product_type": prod["product_type"]}

    def no(reason: str) -> dict[str, Any]:
        return {**out, "status": "not_reproducible", "reason": reason}

    prov = prod["provenance"]
    try:
        await check_inputs(prov["input_files"], pipeline.settings.effective_data_roots)
        event = codec.decode(prov["input_message"])
    except MessageError as exc:
        return no(exc.detail)
    handler = pipeline.registry.by_name(prov["handler"])
    if handler is None:
        return no(f"handler {prov['handler']!r} is not registered in this calibd")
    recorded = json.loads(prov["config"])
    try:
        config = handler.config_model.model_validate(recorded["handler_config"])
    except ValidationError as exc:
        return no(f"the recorded configuration is not valid for this handler: {exc}")
    category = recorded.get("category", prod["category"])
    version = ConfigVersion(
        recorded.get("config_version", 0), {}, {(handler.name, category): config}
    )
    ctx = pipeline.handler_context(handler, version, category, log.bind(product_id=prod["id"]))
    ctx.store = _AsOfStore(store, prod["created_at"])
    try:
        if handler.reproduce is not None:
            result = await handler.reproduce(event, ctx, prod)
        else:
            result = await handler.fn(event, ctx)
    except Exception as exc:
        return no(f"the handler failed: {type(exc).__name__}: {exc}")
    if not isinstance(result, HandlerResult):
        return no("the handler did not return a HandlerResult")
    drafts = [
        d
        for d in result.products
        if d.product_type == prod["product_type"] and d.tel_id == prod["tel_id"]
    ]
    if not drafts:
        waiting = " (it waits for an input that did not exist then)" if result.waits else ""
        return no(f"the handler made no {prod['product_type']} product now{waiting}")
    # the draft of the same validity (a handler may make several, e.g. a block's chunks)
    same = [d for d in drafts if d.valid_from == parse_time(prod["valid_from"])]
    draft = (same or drafts)[0]
    installed = draft.algorithm_version or handler.version
    if installed != prod["algorithm_version"]:
        return no(
            f"algorithm version changed: recorded {prod['algorithm_version']}, "
            f"installed {installed}"
        )
    differences = _compare(prod, draft)
    software = json.loads(prov["software"])
    return {
        **out,
        "status": "different" if differences else "identical",
        "differences": differences,
        "recorded_software": software,
    }
