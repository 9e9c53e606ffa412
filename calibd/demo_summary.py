"""The closing summary of `calibd demo`: products per type, dead letters with their reasons
(and whether the demo meant them), waits by status, configuration versions."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from calibd.demo_story import REJECTED_CHANGE_ID

__all__ = ["collect", "render"]


def _intended(letter: dict[str, Any]) -> str | None:
    """Why the demo dead-lettered this message on purpose (None: it did not mean to)."""
    if letter["reason"] == "malformed" and letter["event_id"] is None:
        return "the message broken on purpose"
    if letter["event_id"] == REJECTED_CHANGE_ID:
        return "the configuration change rejected on purpose"
    return None


async def collect(store: Any) -> dict[str, Any]:
    """What the demo's database holds, as plain data (the test asserts on it)."""
    products = await store.products(limit=10_000)
    letters = await store.dead_letters(limit=1000)
    waits = await store.waits(limit=10_000)
    versions = await store.config_versions(limit=100)
    return {
        "products": dict(sorted(Counter(p["product_type"] for p in products).items())),
        "dead_letters": [
            {
                "id": d["id"],
                "reason": d["reason"],
                "detail": d["detail"],
                "intended": _intended(d),
            }
            for d in reversed(letters)
        ],
        "waits": dict(sorted(Counter(w["status"] for w in waits).items())),
        "waiting": [
            {"handler": w["handler"], "kind": w["kind"], "key": w["key"]}
            for w in waits
            if w["status"] in ("pending", "ready")
        ],
        "config_versions": [
            {"version": v["version"], "requested_by": v["requested_by"], "reason": v["reason"]}
            for v in reversed(versions)
        ],
    }


def render(summary: dict[str, Any]) -> str:
    lines = ["", "summary", "  products per type:"]
    lines += [f"    {t:<28} {n}" for t, n in summary["products"].items()]
    lines.append("  dead letters:")
    for d in summary["dead_letters"]:
        why = f"  (intended: {d['intended']})" if d["intended"] else "  (NOT intended)"
        lines.append(f"    #{d['id']} {d['reason']}: {d['detail'][:80]}{why}")
    waits = ", ".join(f"{s} {n}" for s, n in summary["waits"].items()) or "none"
    lines.append(f"  waits: {waits}")
    if summary["waiting"]:
        lines.append("  still waiting:")
        lines += [f"    {json.dumps(w)}" for w in summary["waiting"]]
    else:
        lines.append("  nothing left waiting")
    lines.append("  configuration versions:")
    lines += [
        f"    v{v['version']} by {v['requested_by']}: {v['reason']}"
        for v in summary["config_versions"]
    ]
    return "\n".join(lines)
