"""`calibd demo`: a local end-to-end run on embedded defaults that a newcomer can watch.

It writes replay files in three steps (`calibd.demo_story`: the night's inputs, among them the
demo inputs handler modules contribute, e.g. synthetic camera runs, one configuration change
accepted and one rejected on purpose and one broken message; FRAM down; QualPipe's answers
to the quality requests calibd waits on), runs each through the real pipeline into a fresh
SQLite database, and prints a summary (`calibd.demo_summary`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calibd.config import Settings

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


def _replay_file(workdir: Path, name: str, lines: list[bytes]) -> Path:
    path = workdir / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_demo(settings: Settings, keep: Path | None, serve_port: int | None = None) -> int:
    """Run the demo (`calibd.demo_story`: the night, FRAM down, QualPipe's answer), print its
    summary; with `serve_port`, then serve the dashboard on its database (on
    `operations.http_host`) until interrupted. 0 when it went as intended."""
    from calibd import demo_story
    from calibd.daemon import load_handlers, replay
    from calibd.demo_summary import collect, render
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

    async def waits() -> list[dict[str, Any]]:
        async with make_store(settings) as store:
            return await store.waits(limit=10_000)

    built: list[dict[str, Any]] = []
    for build in _BUILDERS:
        built += build(workdir)
    steps = [
        ("demo-events.jsonl", "the night's inputs", lambda: demo_story.night(built, handled)),
        ("demo-fram-down.jsonl", "FRAM down: the fallback", demo_story.fram_down),
        (
            "demo-qualpipe.jsonl",
            "QualPipe answers the quality requests",
            lambda: demo_story.qualpipe_answers(asyncio.run(waits())),
        ),
    ]
    print(f"calibd demo: {len(handled)} handlers; events in {workdir}", flush=True)
    print(
        "on purpose: one broken message and one rejected configuration change "
        "(each logged and dead-lettered)\n",
        flush=True,
    )
    counts: Counter[str] = Counter()
    for name, title, lines in steps:
        print(f"calibd demo: {title} ({name})", flush=True)
        counts += asyncio.run(replay(settings, _replay_file(workdir, name, lines())))

    async def summarize() -> dict[str, Any]:
        async with make_store(settings) as store:
            return await collect(store)

    summary = asyncio.run(summarize())
    print(render(summary))
    print(f"\noutcomes: {dict(counts)}")
    print(f"database: {settings.database_path}")
    print(f"try: calibd --data-dir {workdir} products   |   product show ID   |   dead-letters")
    ok = bool(counts.get("done")) and not summary["waiting"]
    ok = ok and all(d["intended"] for d in summary["dead_letters"])
    if keep is None and not counts.get("done"):
        shutil.rmtree(workdir, ignore_errors=True)
    if serve_port is not None and counts.get("done"):
        from calibd.web.serve import serve

        host = settings.operations.http_host
        print(f"dashboard: http://{host}:{serve_port}/  (Ctrl-C stops it)", flush=True)
        serve(settings, host, serve_port)
    return 0 if ok else 1
