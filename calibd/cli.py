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

from calibd import __version__
from calibd.cli_commands import (
    cmd_config,
    cmd_dead_letter_retry,
    cmd_dead_letters,
    cmd_outbox_requeue,
    cmd_product_export,
    cmd_product_plot,
    cmd_product_show,
    cmd_products,
    cmd_reprocess,
    cmd_reproduce,
    cmd_status,
)
from calibd.config import Settings, load_settings, parse_overrides
from calibd.entry import stop_before_start
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
    d.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=8080,
        metavar="PORT",
        help="then serve the dashboard on the demo's database (default port 8080)",
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
    plot = prs.add_parser("plot", help="write a product's plot as PNG (the dashboard's figure)")
    plot.add_argument("product_id", help="id or unique prefix")
    plot.add_argument("-o", "--output", type=Path, required=True)
    plot.add_argument("--overwrite", action="store_true")
    plot.add_argument(
        "--series",
        action="store_true",
        help="its series (the coefficients along its observation block, values over nights)",
    )

    web = sub.add_parser("web", help="serve the read-only dashboard on an existing database")
    web.add_argument("--database", type=Path, help="SQLite file (default: database.path or url)")
    web.add_argument("--host", default=None, help="default: operations.http_host (127.0.0.1)")
    web.add_argument("--port", type=int, default=8080)

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

    ob = sub.add_parser("outbox", help="the notifications waiting or refused")
    obs = ob.add_subparsers(dest="action", required=True)
    rq = obs.add_parser(
        "requeue", help="make refused notifications pending again (after a sink's limit is raised)"
    )
    rq.add_argument("event_ids", nargs="*", help="notification envelope ids (default: all)")
    rq.add_argument("--sink", choices=["kafka", "mqtt"], help="only those refused by this sink")

    db = sub.add_parser("db", help="the database's schema: migrate it, or check it as it is")
    dbs = db.add_subparsers(dest="action", required=True)
    dbs.add_parser("migrate", help="apply the missing migrations (SQLite or PostgreSQL)")
    dbs.add_parser("check", help="exit 3 unless the database is usable as it is")
    dbc = dbs.add_parser(
        "copy", help="copy an SQLite database into an empty PostgreSQL one, verified"
    )
    dbc.add_argument("--from", dest="source", type=Path, required=True, help="the SQLite file")
    dbc.add_argument("--to", dest="target", help="PostgreSQL URL (default: database.url)")

    sc = sub.add_parser("schemas", help="message contracts")
    scs = sc.add_subparsers(dest="action", required=True)
    ex = scs.add_parser("export", help="write JSON Schemas, examples and the AsyncAPI document")
    ex.add_argument("--out", type=Path, default=Path("schemas"))
    ex.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files in --out are stale"
    )
    return p


def _add_simulators(sims) -> None:
    """Subcommands contributed by the default handler modules (calibd.extensions)."""
    import importlib

    from calibd.config import PipelineSettings
    from calibd.extensions import SIMULATORS

    for name in PipelineSettings.model_fields["handler_modules"].get_default(
        call_default_factory=True
    ):
        importlib.import_module(name)  # registers the simulators

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


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from calibd.daemon import Daemon, replay

    if args.command == "run":

        async def run() -> int:
            daemon = Daemon(settings)
            daemon.install_signal_handlers()  # takes over from stop_before_start
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

        return run_demo(settings, args.keep, serve_port=args.serve)
    if args.command == "products":
        return asyncio.run(cmd_products(settings, args))
    if args.command == "product":
        if args.action == "export":
            return asyncio.run(cmd_product_export(settings, args))
        if args.action == "plot":
            return asyncio.run(cmd_product_plot(settings, args))
        return asyncio.run(cmd_product_show(settings, args))
    if args.command == "web":
        from calibd.web.serve import serve

        if args.database is not None:
            settings = settings.model_copy(
                update={"database": settings.database.model_copy(update={"path": args.database})}
            )
        return serve(settings, args.host or settings.operations.http_host, args.port)
    if args.command == "status":
        return asyncio.run(cmd_status(settings))
    if args.command == "outbox":
        return asyncio.run(cmd_outbox_requeue(settings, args.sink, args.event_ids))
    if args.command == "reprocess":
        return cmd_reprocess(settings, args)
    if args.command == "reproduce":
        return cmd_reproduce(settings, args)
    if args.command == "config":
        return asyncio.run(cmd_config(settings, args))
    if args.command == "simulate":
        return args.simulate_run(args)
    if args.command == "dead-letters":
        if args.action == "retry":
            if args.dead_letter_id is None:
                raise ConfigurationError("usage: calibd dead-letters retry ID")
            return cmd_dead_letter_retry(settings, args.dead_letter_id)
        return asyncio.run(cmd_dead_letters(settings, args))
    if args.command == "db":
        from calibd.store.admin import check_database, copy_database, migrate_database
        from calibd.store.factory import database_shown

        if args.action == "copy":
            return asyncio.run(copy_database(settings, args.source, args.target))

        act = migrate_database if args.action == "migrate" else check_database
        version = asyncio.run(act(settings))
        print(f"database {database_shown(settings)}: schema version {version}, ok")
        return 0
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `run`: a clean exit until the daemon's handlers take over; other commands: the default
    signal.signal(signal.SIGTERM, stop_before_start if args.command == "run" else signal.SIG_DFL)
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
            instance=settings.instance,
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
