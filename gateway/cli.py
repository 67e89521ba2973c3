"""The `callgate` command line (SPEC §6)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway import db, migrations
from gateway.embedded import EmbeddedStoreError
from gateway.logs import configure_logging, load_log_key, set_log_key
from gateway.settings import Settings, SettingsError
from gateway.stores import Stores, start_stores

DEMO_SUBSCRIBERS = 20_000


class CliError(Exception):
    """A command failed for a reason the user can fix; printed without a traceback."""


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"([0-9]+)([mhd])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: write a duration like 90m, 12h or 30d")
    value, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=value), "h": timedelta(hours=value), "d": timedelta(days=value)}[unit]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="callgate",
        description="Routing and entitlement gateway for a telecom customer hotline. "
        "Settings come from CALLGATE_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service. With no CALLGATE_DATABASE_URL / CALLGATE_REDIS_URL it "
        "starts an embedded PostgreSQL and Redis under CALLGATE_DATA_DIR, migrates, and on the "
        "first run loads a demo province.",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="worker processes (default CALLGATE_WORKERS or 1)",
    )
    serve.add_argument(
        "--demo-subscribers", type=_positive, default=DEMO_SUBSCRIBERS,
        help=f"size of the demo province loaded on the first embedded run (default {DEMO_SUBSCRIBERS:,})",
    )  # fmt: skip
    serve.add_argument("--no-demo", action="store_true", help="do not load demo data on the first run")

    sub.add_parser("migrate", help="apply sql/ migrations (idempotent)")

    demo = sub.add_parser("demo-data", help="write a synthetic province")
    demo.add_argument("--subscribers", type=_positive, required=True, help="number of subscribers")
    demo.add_argument("--seed", type=int, default=2015, help="random seed (same seed, same province)")
    demo.add_argument("--reset", action="store_true", help="delete all existing data first")

    imp = sub.add_parser("import", help="bulk-load a CSV file (all rows or none)")
    imp.add_argument("kind", choices=["branches", "subscribers", "bills", "payments"])
    imp.add_argument("file", type=Path)

    tokens = sub.add_parser("tokens", help="manage bearer tokens")
    tsub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create a token; prints it alone on the last line")
    create.add_argument("--role", required=True, choices=["ivr", "agent", "branch", "admin"])
    create.add_argument("--branch", help="city or county branch code (role branch only)")
    create.add_argument("--name", default="", help="a label for the token's holder")
    create.add_argument("--expires-in", type=_duration, help="e.g. 90m, 12h, 30d (default: until revoked)")
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    tsub.add_parser("list", help="list tokens (never their secrets)")
    return parser


async def _with_db(stores: Stores, action: Callable[[Any], Awaitable[int]]) -> int:
    assert stores.settings.database_url is not None
    conn = await db.connect(stores.settings.database_url)
    try:
        return await action(conn)
    finally:
        await conn.close()


async def cmd_migrate(conn: Any) -> int:
    """Apply pending migrations."""
    done = await migrations.migrate(conn)
    print(f"applied {len(done)} migration(s){': ' + ', '.join(done) if done else ''}; schema is current")
    return 0


def _run_db_command(
    settings: Settings, action: Callable[[Any], Awaitable[int]], *, migrate: bool = True
) -> int:
    stores = start_stores(settings, need_redis=False)
    try:

        async def run(conn: Any) -> int:
            if migrate:
                await migrations.migrate(conn)
            return await action(conn)

        return asyncio.run(_with_db(stores, run))
    finally:
        stores.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"callgate: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    set_log_key(load_log_key(settings.log_key, settings.data_dir))
    try:
        return _dispatch(args, settings)
    except (CliError, EmbeddedStoreError, migrations.MigrationError) as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("callgate: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import commands

    if args.command == "serve":
        from gateway.server import serve

        return serve(
            settings,
            workers=args.workers or settings.workers,
            demo_subscribers=None if args.no_demo else args.demo_subscribers,
        )
    if args.command == "migrate":
        return _run_db_command(settings, cmd_migrate, migrate=False)
    if args.command == "demo-data":
        return _run_db_command(
            settings,
            lambda c: commands.demo_data(c, settings, args.subscribers, args.seed, args.reset),
        )
    if args.command == "import":
        return _run_db_command(settings, lambda c: commands.import_csv(c, settings, args.kind, args.file))
    if args.command == "tokens":
        if args.tokens_command == "create":
            return _run_db_command(
                settings,
                lambda c: commands.tokens_create(
                    c, settings, args.role, args.branch, args.name, args.expires_in
                ),
            )
        if args.tokens_command == "revoke":
            return _run_db_command(settings, lambda c: commands.tokens_revoke(c, args.id))
        return _run_db_command(settings, commands.tokens_list)
    raise CliError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
