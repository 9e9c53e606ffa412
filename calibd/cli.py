"""The `calibd` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calibd import __version__
from calibd.config import Settings, load_settings, parse_overrides
from calibd.errors import CalibdError, ConfigurationError, exit_code
from calibd.redact import scrub, secret_values

__all__ = ["main"]


def _time(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="calibd",
        description="CTAO DPPS Calibration Pipeline daemon",
        epilog="Settings: defaults < --config TOML < CALIBD_* environment < --set/options.",
    )
    p.add_argument("--version", action="version", version=f"calibd {__version__}")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set kafka.enabled=true (repeatable)",
    )
    p.add_argument("--data-dir", type=Path, help="data directory (database and defaults)")
    p.add_argument("--log-format", choices=["json", "console"], help="log format (default json)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the daemon on the configured sources")
    sub.add_parser("status", help="database counts, and the running daemon's health and metrics")
    r = sub.add_parser("replay", help="process a JSON-lines file of CloudEvents envelopes")
    r.add_argument("file", type=Path)
    d = sub.add_parser("demo", help="a local end-to-end run on embedded defaults")
    d.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR and keep it (default: a temporary directory)",
    )

    ps = sub.add_parser("products", help="list products")
    ps.add_argument("--type", dest="product_type")
    ps.add_argument("--tel", type=int)
    ps.add_argument("--at", type=_time, help="only products valid at this time, best first")
    ps.add_argument("--all", action="store_true", help="include superseded products")
    ps.add_argument("--limit", type=int, default=50)
    ps.add_argument("--json", action="store_true")

    pr = sub.add_parser("product", help="one product")
    prs = pr.add_subparsers(dest="action", required=True)
    show = prs.add_parser("show", help="metadata, payload and provenance of a product")
    show.add_argument("product_id", help="id or unique prefix")
    export = prs.add_parser("export", help="write a product to a file (FITS for tables)")
    export.add_argument("product_id", help="id or unique prefix")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.add_argument("--overwrite", action="store_true")

    rp = sub.add_parser("reprocess", help="make Cat-C products for a period from archived inputs")
    rp.add_argument("--start", type=_time, required=True)
    rp.add_argument("--end", type=_time, required=True)
    rp.add_argument("--type", dest="product_types", action="append", help="repeatable")
    rp.add_argument("--tel", dest="tel_ids", type=int, action="append", help="repeatable")
    rr = sub.add_parser("reproduce", help="re-run a product from its provenance and compare")
    rr.add_argument("product_id", help="id or unique prefix")

    cfg = sub.add_parser("config", help="configuration versions")
    cfgs = cfg.add_subparsers(dest="action", required=True)
    hist = cfgs.add_parser("history", help="every configuration version: who, why, what changed")
    hist.add_argument("--limit", type=int, default=50)
    hist.add_argument("--json", action="store_true")
    cshow = cfgs.add_parser("show", help="the run-time configuration in force")
    cshow.add_argument("--at", type=_time, help="in force at this time (default: latest)")

    sim = sub.add_parser("simulate", help="write synthetic inputs with a known truth")
    sims = sim.add_subparsers(dest="simulator", required=True, metavar="KIND")
    _add_simulators(sims)

    dl = sub.add_parser(
        "dead-letters", help="list dead-lettered messages; `retry ID` runs one again after a fix"
    )
    dl.add_argument("action", nargs="?", choices=["retry"])
    dl.add_argument("dead_letter_id", nargs="?", type=int)
    dl.add_argument("--reason")
    dl.add_argument("--limit", type=int, default=50)
    dl.add_argument("--json", action="store_true")

    sc = sub.add_parser("schemas", help="message contracts")
    scs = sc.add_subparsers(dest="action", required=True)
    ex = scs.add_parser("export", help="write JSON Schemas, examples and the AsyncAPI document")
    ex.add_argument("--out", type=Path, default=Path("schemas"))
    ex.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files in --out are stale"
    )
    return p


def _add_simulators(sims) -> None:
    """Subcommands contributed by the built-in handler modules (calibd.extensions)."""
    import calibd.handlers  # noqa: F401 - registers the simulators
    from calibd.extensions import SIMULATORS

    for name, (help_text, setup) in sorted(SIMULATORS.items()):
        parser = sims.add_parser(name, help=help_text)
        parser.set_defaults(simulate_run=setup(parser))


def _settings(args: argparse.Namespace) -> Settings:
    overrides = parse_overrides(args.overrides)
    if args.data_dir is not None:
        overrides["data_dir"] = str(args.data_dir)
    logging_over = overrides.setdefault("logging", {})
    if args.log_format:
        logging_over["format"] = args.log_format
    if args.log_level:
        logging_over["level"] = args.log_level
    if not logging_over:
        overrides.pop("logging")
    return load_settings(args.config, overrides)


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
    from calibd.store import Store

    async with Store(settings.database_path, settings.database.busy_timeout_ms) as store:
        return await fn(store)


async def _cmd_products(settings: Settings, args: argparse.Namespace) -> int:
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


async def _cmd_product_show(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.pipeline import load_arrays

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


async def _cmd_product_export(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.daemon import load_handlers
    from calibd.extensions import EXPORTERS
    from calibd.pipeline import load_arrays

    load_handlers(settings.pipeline.handler_modules)
    prod = await _with_store(settings, lambda s: s.product(args.product_id))
    if prod is None:
        print(
            f"calibd: no product {args.product_id!r} (or the prefix is ambiguous)", file=sys.stderr
        )
        return 1
    export = EXPORTERS.get(prod["product_type"])
    if export is None:
        print(
            f"calibd: no exporter for product type {prod['product_type']!r} "
            f"(known: {', '.join(sorted(EXPORTERS)) or 'none'})",
            file=sys.stderr,
        )
        return 1
    if args.output.exists() and not args.overwrite:
        print(f"calibd: {args.output} exists (use --overwrite)", file=sys.stderr)
        return 1
    arrays = load_arrays(prod.pop("arrays"))
    await asyncio.to_thread(export, prod, arrays, args.output)
    print(args.output)
    return 0


async def _with_pipeline(settings: Settings, fn):
    """Run `fn(pipeline)` on a local daemon without sources; flush the outbox after."""
    from calibd.daemon import Daemon

    async with Daemon(settings) as daemon:
        result = await fn(daemon.pipeline)
        await daemon.pipeline.drain()
    return result


def _cmd_reprocess(settings: Settings, args: argparse.Namespace) -> int:
    import uuid

    from calibd.reprocess import reprocess

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
            ),
        )
    )
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.failed else 0


def _cmd_reproduce(settings: Settings, args: argparse.Namespace) -> int:
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


async def _cmd_status(settings: Settings) -> int:
    counts = await _with_store(settings, lambda s: s.counts())
    backlog = await _with_store(settings, lambda s: s.outbox_backlog())
    print(f"database {settings.database_path}")
    for key, value in counts.items():
        print(f"  {key:<16} {value}")
    for sink, n in backlog.items():
        print(f"  outbox[{sink}]{'':<8} {n}")
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


async def _cmd_config(settings: Settings, args: argparse.Namespace) -> int:
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


def _cmd_dead_letter_retry(settings: Settings, dead_letter_id: int) -> int:
    from calibd.sources.base import RawMessage

    async def retry(pipeline):
        row = await pipeline.store.release_dead_letter(dead_letter_id)
        headers = (
            [(k, None if v is None else v.encode()) for k, v in json.loads(row["headers"]).items()]
            if row["headers"]
            else None
        )
        return await pipeline.process(
            RawMessage(
                transport=row["transport"],
                origin=f"retry of dead letter {dead_letter_id} ({row['origin']})",
                origin_key=f"dead-letter-retry:{dead_letter_id}",
                payload=bytes(row["payload"]),
                headers=headers,
            )
        )

    outcome = asyncio.run(_with_pipeline(settings, retry))
    print(json.dumps(outcome.__dict__, indent=2))
    return 0 if outcome.status in ("done", "retrying") else 1


async def _cmd_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    rows = await _with_store(settings, lambda s: s.dead_letters(args.limit, args.reason))
    for r in rows:
        r["payload"] = bytes(r["payload"]).decode("utf-8", "replace")[:200]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, ["id", "received_at", "transport", "reason", "event_type", "detail"])
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.daemon import Daemon, replay

    if args.command == "run":

        async def run() -> int:
            daemon = Daemon(settings)
            daemon.install_signal_handlers()  # takes over from _stop_before_start
            async with daemon:
                return await daemon.run()

        return asyncio.run(run())
    if args.command == "replay":
        if not args.file.is_file():
            raise ConfigurationError(f"replay file {args.file} does not exist")
        counts = asyncio.run(replay(settings, args.file))
        print(json.dumps({"replayed": args.file.name, **counts}), file=sys.stderr)
        return 0
    if args.command == "demo":
        from calibd.demo import run_demo

        return run_demo(settings, args.keep)
    if args.command == "products":
        return asyncio.run(_cmd_products(settings, args))
    if args.command == "product":
        if args.action == "export":
            return asyncio.run(_cmd_product_export(settings, args))
        return asyncio.run(_cmd_product_show(settings, args))
    if args.command == "status":
        return asyncio.run(_cmd_status(settings))
    if args.command == "reprocess":
        return _cmd_reprocess(settings, args)
    if args.command == "reproduce":
        return _cmd_reproduce(settings, args)
    if args.command == "config":
        return asyncio.run(_cmd_config(settings, args))
    if args.command == "simulate":
        return args.simulate_run(args)
    if args.command == "dead-letters":
        if args.action == "retry":
            if args.dead_letter_id is None:
                raise ConfigurationError("usage: calibd dead-letters retry ID")
            return _cmd_dead_letter_retry(settings, args.dead_letter_id)
        return asyncio.run(_cmd_dead_letters(settings, args))
    if args.command == "schemas":
        from calibd.schemas_export import check, export

        if args.check:
            stale = check(args.out)
            for line in stale:
                print(f"stale: {line}", file=sys.stderr)
            return 1 if stale else 0
        for path in export(args.out):
            print(path)
        return 0
    raise AssertionError(args.command)


def _stop_before_start(signum: int, _frame: object) -> None:
    """SIGTERM before the daemon's loop runs: nothing was received yet, so exit cleanly."""
    print(f"calibd: {signal.Signals(signum).name} before start-up ended; exiting", file=sys.stderr)
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        signal.signal(signal.SIGTERM, _stop_before_start)
    secrets: set[str] = set()  # values given to secret-named keys: never printed
    try:
        secrets = secret_values(parse_overrides(args.overrides), os.environ)
        settings = _settings(args)
        from calibd.logs import configure_logging
        from calibd.offline import configure_offline_astropy

        configure_logging(
            settings.logging.format,
            settings.logging.level,
            sys.stdout if args.command in ("run", "demo") else sys.stderr,
        )
        configure_offline_astropy()
        return _run(settings, args)
    except CalibdError as exc:
        print(f"calibd: {scrub(str(exc), secrets)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
