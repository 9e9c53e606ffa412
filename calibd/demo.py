"""`calibd demo`: a local end-to-end run on embedded defaults that a newcomer can watch.

It writes a replay file (example events of every type that has a handler, plus the demo inputs
handler modules contribute, e.g. synthetic camera runs, and one broken message), runs it
through the real pipeline into a fresh SQLite database, and prints what came out.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calibd.config import Settings
from calibd.events.examples import EXAMPLES

__all__ = ["demo_handler_settings", "demo_input", "run_demo"]

DemoBuilder = Callable[[Path], list[dict[str, Any]]]
_BUILDERS: list[DemoBuilder] = []
_HANDLER_SETTINGS: dict[str, dict[str, Any]] = {}


def demo_handler_settings(handler: str, values: dict[str, Any]) -> None:
    """Settings of `handler` for the demo only (e.g. no waiting for more files of a block
    that the demo wrote whole), under the user's own."""
    _HANDLER_SETTINGS.setdefault(handler, {}).update(values)


def demo_input(fn: DemoBuilder) -> DemoBuilder:
    """Register a function that writes demo input files under a directory and returns the
    envelopes that refer to them (handler modules use it to join the demo)."""
    _BUILDERS.append(fn)
    return fn


def _inputs(workdir: Path, handled: set[str]) -> list[bytes]:
    envelopes: list[dict[str, Any]] = []
    for build in _BUILDERS:
        envelopes += build(workdir)
    covered = {e["type"] for e in envelopes}
    for event_type in sorted(handled - covered):
        example = json.loads(json.dumps(EXAMPLES[event_type]))
        if "files" not in json.dumps(example["data"]):
            envelopes.append({**example, "id": str(uuid.uuid4())})
    lines = [json.dumps(e).encode() for e in envelopes]
    lines.append(b'{"specversion": "1.0", "id": "broken-on-purpose", ')
    return lines


def run_demo(settings: Settings, keep: Path | None) -> int:
    from calibd.daemon import load_handlers, replay
    from calibd.store.factory import make_store

    workdir = keep or Path(tempfile.mkdtemp(prefix="calibd-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    registry = load_handlers(settings.pipeline.handler_modules)
    handled = {h.event_type for h in registry}
    handlers = {**{k: dict(v) for k, v in _HANDLER_SETTINGS.items()}}
    for name, values in settings.handlers.items():
        handlers[name] = {**handlers.get(name, {}), **values}
    settings = settings.model_copy(
        update={
            "handlers": handlers,
            "data_dir": workdir,
            "data_roots": [workdir],
            "kafka": settings.kafka.model_copy(update={"enabled": False}),
            "mqtt": settings.mqtt.model_copy(update={"enabled": False}),
            "database": settings.database.model_copy(update={"url": None}),  # embedded
        }
    )
    replay_file = workdir / "demo-events.jsonl"
    replay_file.write_bytes(b"\n".join(_inputs(workdir, handled)) + b"\n")
    print(f"calibd demo: {len(handled)} handlers; events in {replay_file}\n", flush=True)
    counts = asyncio.run(replay(settings, replay_file))

    async def report() -> None:
        async with make_store(settings) as store:
            products = await store.products(limit=1000)
            letters = await store.dead_letters(limit=1000)
        print("\nproducts:")
        for p in products:
            print(
                f"  {p['id']}  {p['product_type']:<28} tel={p['tel_id']!s:<4} "
                f"cat={p['category']}  {json.dumps(p['summary'])[:80]}"
            )
        print("dead letters:")
        for d in letters:
            print(f"  #{d['id']} {d['reason']}: {d['detail'][:90]}")

    asyncio.run(report())
    print(f"\noutcomes: {dict(counts)}")
    print(f"database: {settings.database_path}")
    print(f"try: calibd --data-dir {workdir} products   |   product show ID   |   dead-letters")
    if keep is None and not counts.get("done"):
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if counts.get("done") else 1
