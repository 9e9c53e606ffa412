"""The database and status subcommands of `calibd`: products, reprocessing, reproduction,
status, configuration versions, dead letters. `calibd.cli` parses and dispatches to them."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from calibd.config import Settings
from calibd.store.times import format_time

__all__ = [
    "cmd_config",
    "cmd_dead_letter_retry",
    "cmd_dead_letters",
    "cmd_outbox_requeue",
    "cmd_product_export",
    "cmd_product_plot",
    "cmd_product_show",
    "cmd_products",
    "cmd_reprocess",
    "cmd_reproduce",
    "cmd_status",
]


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print(
            "  ".join(
                str(r.get(c, "") if r.get(c) is not None else "-").ljust(widths[c]) for c in columns
            )
        )


async def _with_store(settings: Settings, fn):
    from calibd.store.factory import make_store

    async with make_store(settings) as store:
        return await fn(store)


async def cmd_products(settings: Settings, args: argparse.Namespace) -> int:
    rows = await _with_store(
        settings,
        lambda s: s.products(
            product_type=args.product_type,
            tel_id=args.tel,
            at=args.at,
            include_superseded=args.all,
            limit=args.limit,
        ),
    )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(
            rows,
            [
                "id",
                "product_type",
                "tel_id",
                "category",
                "valid_from",
                "valid_to",
                "status",
                "algorithm",
            ],
        )
    return 0


async def cmd_product_show(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.arrays import load_arrays

    prod = await _with_store(settings, lambda s: s.product(args.product_id))
    if prod is None:
        print(
            f"calibd: no product {args.product_id!r} (or the prefix is ambiguous)", file=sys.stderr
        )
        return 1
    arrays = load_arrays(prod.pop("arrays"))
    prod["arrays"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()}
    prov = prod["provenance"]
    if prov:
        prov["input_message"] = json.loads(prov["input_message"])
        for k in ("input_files", "config", "software"):
            prov[k] = json.loads(prov[k])
    print(json.dumps(prod, indent=2, default=str))
    return 0


async def cmd_product_export(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.daemon import load_handlers
    from calibd.product_export import ExportRefused, write_export
    from calibd.progress import progress

    load_handlers(settings.pipeline.handler_modules)
    prod = await _with_store(settings, lambda s: s.product(args.product_id))
    if prod is None:
        print(
            f"calibd: no product {args.product_id!r} (or the prefix is ambiguous)", file=sys.stderr
        )
        return 1
    if args.output.exists() and not args.overwrite:
        print(f"calibd: {args.output} exists (use --overwrite)", file=sys.stderr)
        return 1
    try:
        with progress(f"export {args.output.name}", unit="products") as bar:
            await _with_store(settings, lambda s: write_export(s, settings, prod, args.output, bar))
    except ExportRefused as exc:
        print(f"calibd: {exc}", file=sys.stderr)
        return 1
    print(args.output)
    return 0


async def cmd_product_plot(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.daemon import load_handlers
    from calibd.plotting import can_plot, plotted_types, render_png_async

    load_handlers(settings.pipeline.handler_modules)  # their plots
    prod = await _with_store(settings, lambda s: s.product(args.product_id))
    if prod is None:
        print(
            f"calibd: no product {args.product_id!r} (or the prefix is ambiguous)", file=sys.stderr
        )
        return 1
    if args.series:
        return await _plot_series(settings, prod, args)
    if not can_plot(prod["product_type"]):
        print(
            f"calibd: no plot for product type {prod['product_type']!r} "
            f"(plotted: {', '.join(plotted_types())})",
            file=sys.stderr,
        )
        return 1
    if args.output.exists() and not args.overwrite:
        print(f"calibd: {args.output} exists (use --overwrite)", file=sys.stderr)
        return 1
    args.output.write_bytes(await render_png_async(prod, settings))
    print(args.output)
    return 0


async def _plot_series(settings: Settings, prod: dict, args: argparse.Namespace) -> int:
    from calibd.arrays import load_arrays
    from calibd.plotting import SERIES_PLOTTERS, render_series_png, series_key
    from calibd.product_export import product_series

    if series_key(prod) is None:
        print(f"calibd: product {prod['id']} has no series plot", file=sys.stderr)
        return 1
    arrays = load_arrays(prod.pop("arrays"))
    key_of = SERIES_PLOTTERS[prod["product_type"]].key
    series = await _with_store(settings, lambda s: product_series(s, prod, arrays, key_of))
    if series is None:
        print(f"calibd: product {prod['id']} is superseded", file=sys.stderr)
        return 1
    if args.output.exists() and not args.overwrite:
        print(f"calibd: {args.output} exists (use --overwrite)", file=sys.stderr)
        return 1
    png = await asyncio.to_thread(render_series_png, series, settings)
    args.output.write_bytes(png)
    print(args.output)
    return 0


async def _with_pipeline(settings: Settings, fn):
    """Run `fn(pipeline)` on a local daemon without sources; flush the outbox after."""
    from calibd.daemon import Daemon

    async with Daemon(settings) as daemon:
        result = await fn(daemon.pipeline)
        await daemon.pipeline.drain()
    return result


def cmd_reprocess(settings: Settings, args: argparse.Namespace) -> int:
    import uuid

    from calibd.progress import progress
    from calibd.reprocess import reprocess

    with progress("reprocess", unit="products") as bar:
        report = asyncio.run(
            _with_pipeline(
                settings,
                lambda p: reprocess(
                    p,
                    args.start,
                    args.end,
                    args.product_types,
                    args.tel_ids,
                    request_id=f"cli-{uuid.uuid4()}",
                    bar=bar,
                ),
            )
        )
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.failed else 0


def cmd_reproduce(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.reproduce import reproduce

    result = asyncio.run(_with_pipeline(settings, lambda p: reproduce(p, args.product_id)))
    print(json.dumps(result, indent=2))
    return 0 if result["status"] == "identical" else 1


def _http_get(url: str) -> str:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()


async def cmd_outbox_requeue(settings: Settings, sink: str | None, event_ids: list[str]) -> int:
    """Refused notifications pending again: a running daemon's relay publishes them within a
    second (one that is refused again is recorded failed again)."""
    n = await _with_store(settings, lambda s: s.requeue_refused(sink, event_ids))
    print(f"{n} refused notification deliveries pending again")
    return 0


async def cmd_status(settings: Settings) -> int:
    counts = await _with_store(settings, lambda s: s.counts())
    backlog = await _with_store(settings, lambda s: s.outbox_backlog())
    from calibd.store.factory import database_shown

    print(f"database {database_shown(settings)}")
    for key, value in counts.items():
        print(f"  {key:<16} {value}")
    for sink, n in backlog.items():
        print(f"  outbox[{sink}]{'':<8} {n}")
    claims = await _with_store(settings, lambda s: s.claims())
    print("instances holding claims:" if claims else "instances holding claims: none")
    now = format_time(datetime.now(UTC))
    for c in claims:
        state = "expired" if c["until"] < now else "held"
        print(f"  {c['holder']}  {c['what']:<6} {c['n']:>6} rows  until {c['until']} ({state})")
    ops = settings.operations
    if ops.http_port is None:
        print("live metrics: operations.http_port is not set")
        return 0
    base = f"http://{ops.http_host}:{ops.http_port}"
    code = 0
    for path in ("/healthz", "/readyz", "/metrics"):
        try:
            body = await asyncio.to_thread(_http_get, base + path)
        except OSError as exc:
            body, code = f"unreachable: {exc}", 1
        print(f"{path}: {body.strip() if path != '/metrics' else ''}")
        if path == "/metrics":
            print("\n".join("  " + line for line in body.splitlines() if not line.startswith("#")))
    return code


async def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    async def query(store):
        if args.action == "history":
            return await store.config_versions(args.limit)
        if args.at is not None:
            return await store.config_version_at(args.at)
        rows = await store.config_versions(1)
        return rows[0] if rows else None

    result = await _with_store(settings, query)
    if args.action == "history":
        for r in result:
            r["changes"] = json.loads(r["changes"])
            for k in ("overlay", "effective"):
                r.pop(k)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            for r in result:
                changes = (
                    ", ".join(
                        f"{c['key']}: {c['previous']!r} -> {c['value']!r}" for c in r["changes"]
                    )
                    or "-"
                )
                print(
                    f"v{r['version']}  {r['created_at']}  {r['requested_by']}: {r['reason']}"
                    f"\n      {changes}"
                )
        return 0
    if result is None:
        print("calibd: no configuration version recorded at that time", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "version": result["version"],
                "created_at": result["created_at"],
                "effective": json.loads(result["effective"]),
            },
            indent=2,
        )
    )
    return 0


def cmd_dead_letter_retry(settings: Settings, dead_letter_id: int) -> int:
    from calibd.transports.base import RawMessage

    async def retry(pipeline):
        row = await pipeline.store.release_dead_letter(dead_letter_id)
        headers = (
            [(k, None if v is None else v.encode()) for k, v in json.loads(row.headers).items()]
            if row.headers
            else None
        )
        return await pipeline.process(
            RawMessage(
                transport=row.transport,
                origin=f"retry of dead letter {dead_letter_id} ({row.origin})",
                origin_key=f"dead-letter-retry:{dead_letter_id}",
                payload=row.payload,
                headers=headers,
            )
        )

    outcome = asyncio.run(_with_pipeline(settings, retry))
    print(json.dumps(outcome.__dict__, indent=2))
    return 0 if outcome.status in ("done", "retrying") else 1


async def cmd_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    rows = await _with_store(settings, lambda s: s.dead_letters(args.limit, args.reason))
    for r in rows:
        r["payload"] = bytes(r["payload"]).decode("utf-8", "replace")[:200]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, ["id", "received_at", "transport", "reason", "event_type", "detail"])
    return 0
