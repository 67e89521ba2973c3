"""The `callgate` command line (SPEC §6)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from asyncpg.exceptions import LockNotAvailableError

from gateway.batch.importer import KINDS
from gateway.cli import staffing as staffing_command
from gateway.cli.commands import CommandError
from gateway.logs import configure_logging, load_log_key, set_log_key
from gateway.settings import Settings, SettingsError
from gateway.stores import db, migrations
from gateway.stores.embedded import EmbeddedStoreError
from gateway.stores.launch import Stores, start_stores

DEMO_SUBSCRIBERS = 20_000


class CliError(Exception):
    """A command failed for a reason the user can fix; printed without a traceback."""


MAX_DURATION = timedelta(days=36_500)


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"([0-9]+)([mhd])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: write a duration like 90m, 12h or 30d")
    value, unit = int(match.group(1)), match.group(2)
    # A zero duration once meant "never expires" downstream; a huge one overflows the clock.
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be positive, like 90m, 12h or 30d")
    minutes = value * {"m": 1, "h": 60, "d": 1440}[unit]
    if minutes > MAX_DURATION.total_seconds() // 60:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {MAX_DURATION.days}d")
    return timedelta(minutes=minutes)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _shard(text: str) -> tuple[int, int]:
    """`I/N` (X4): host I of N, 1 ≤ I ≤ N."""
    i, slash, n = text.partition("/")
    if not slash or not i.isdigit() or not n.isdigit() or not 1 <= int(i) <= int(n):
        raise argparse.ArgumentTypeError(f"{text!r}: write the shard as I/N with 1 ≤ I ≤ N, like 1/2")
    return int(i), int(n)


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
    imp.add_argument(
        "kind",
        choices=KINDS,
    )
    imp.add_argument("file", type=Path)

    ev = sub.add_parser(
        "evaluate",
        help="the monthly tier evaluation",
        description="Evaluate every subscriber in month M over bills up to M-1 (T1-T5): writes the tier "
        "history and the SMS outbox and refreshes the cache. A killed run resumes where it stopped; "
        "a finished month is not evaluated twice.",
    )
    ev.add_argument("--month", required=True, help="evaluation month YYYY-MM")
    ev.add_argument("--policy", help="policy name (default CALLGATE_POLICY)")
    ev.add_argument(
        "--run-date", type=_date,
        help="the run's day (default: today in the current month, else the 6th, after billing closes)",
    )  # fmt: skip
    ev.add_argument(
        "--batch", type=_positive, default=20_000, help="subscribers per transaction (default 20000)"
    )
    ev.add_argument(
        "--workers", type=_positive, default=min(os.cpu_count() or 1, 4),
        help="worker processes, one key range each (default: CPU count, at most 4)",
    )  # fmt: skip
    ev.add_argument(
        "--dry-run", action="store_true",
        help="what-if (O1): the whole evaluation with nothing written; prints the from → to level matrix "
        "against the levels in force, the VIP desk's population before and after and its agents (Erlang C)",
    )  # fmt: skip
    ev.add_argument(
        "--override", type=Path, metavar="FILE",
        help="(dry run) a provincial override to try, in place of CALLGATE_POLICY_OVERRIDE",
    )  # fmt: skip
    ev.add_argument(
        "--report", type=Path, metavar="DIR",
        help="(dry run) also write the matrix and populations as CSV and an HTML page with a chart",
    )  # fmt: skip
    ev.add_argument(
        "--vip-calls-per-hour", type=staffing_command.non_negative_number, metavar="N",
        help="(dry run) the VIP desk's offered calls per hour (default: the last 30 days of the queue "
        "engine's statistics)",
    )  # fmt: skip

    ev.add_argument(
        "--shard", type=_shard, metavar="I/N",
        help="X4: this host's share of the month when N hosts share it (key ranges, own checkpoints); "
        "the month is finished when every shard is",
    )  # fmt: skip

    rt = sub.add_parser(
        "retention",
        help="drop month partitions of bills and tier history older than K months (X5)",
        description="Drop whole month partitions of bills, tier_assignments and tier_explanations "
        "older than K months. Always kept: the 13 bill months the evaluation reads (T1.4), the bills "
        "an unfinished run still reads, and the tier history of every level that still serves or may "
        "serve. Prints what it drops (or would drop) and keeps.",
    )
    rt.add_argument("--keep-months", type=_positive, required=True, metavar="K", help="months kept (≥ 13)")
    rt.add_argument("--dry-run", action="store_true", help="print the plan, drop nothing")

    ex = sub.add_parser("explain", help="why a subscriber has the tier they have")
    ex.add_argument("msisdn")
    ex.add_argument("--lang", choices=["zh", "en"], default="zh", help="language (default zh)")

    th = sub.add_parser("thresholds", help="star thresholds (T1.7)")
    thsub = th.add_subparsers(dest="thresholds_command", required=True, metavar="ACTION")
    pr = thsub.add_parser(
        "propose",
        help="propose thresholds from a month's value distribution",
        description="Rank the month's rated subscribers by value (T1.6) and propose the lower bound of "
        "each star level for the given shares; prints (or writes) a provincial override file.",
    )
    pr.add_argument("--month", required=True, help="an evaluated month YYYY-MM")
    pr.add_argument(
        "--shares", required=True,
        help="share of users per level, top down, e.g. five_star=0.02,four_star=0.05,three_star=0.1,two_star=0.3",  # noqa: E501 - an example is clearer whole
    )  # fmt: skip
    pr.add_argument("--valid-from", help="first month of the new thresholds (default: the month after)")
    pr.add_argument("--write", type=Path, help="write the override TOML here instead of printing it")

    ca = sub.add_parser("cache", help="the Redis cache")
    csub = ca.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    csub.add_parser("rebuild", help="rewrite every subscriber's record from PostgreSQL")

    no = sub.add_parser("notify", help="deliver pending SMS notifications to CALLGATE_SMS_URL")
    no.add_argument("--limit", type=_positive, help="send at most this many")

    st = sub.add_parser(
        "staffing",
        help="agents needed for a service level (Erlang C), optionally checked by simulation",
        description="Print the agents needed for the target service level by Erlang C (Q6), and Erlang "
        "C's service level, average speed of answer and occupancy for that staffing and for one agent "
        "fewer. With --simulate, also the service level the hotline simulation reaches with each, counted "
        "the Chinese way (Q5: answered within the target ÷ all requests for a person, abandons included). "
        "Needs no database.",
    )
    st.add_argument(
        "--calls-per-hour",
        type=staffing_command.positive_number,
        required=True,
        help="offered calls per hour",
    )
    st.add_argument(
        "--aht", type=staffing_command.positive_number, required=True, metavar="SECONDS",
        help="average handling time in seconds",
    )  # fmt: skip
    st.add_argument(
        "--target", type=staffing_command.parse_target, default=staffing_command.DEFAULT_TARGET,
        metavar="SHARE/SECONDS", help=f"service-level target (default {staffing_command.DEFAULT_TARGET}, Q5)",
    )  # fmt: skip
    st.add_argument("--simulate", action="store_true", help="also simulate both staffings")
    st.add_argument(
        "--hours", type=_positive, default=50, help="independent hours simulated per staffing (default 50)"
    )
    st.add_argument(
        "--warmup", type=staffing_command.non_negative_number, default=15.0, metavar="MINUTES",
        help="minutes simulated before each measured hour, to start with busy agents (default 15)",
    )  # fmt: skip
    st.add_argument("--seed", type=int, default=1, help="random seed (same seed, same result; default 1)")
    st.add_argument(
        "--handling", type=staffing_command.handling_distribution, default="exp", metavar="DIST",
        help="handling-time distribution with mean --aht: exp (default), const, lognormal:AHT,CV, "
        "uniform:LOW,HIGH",
    )  # fmt: skip
    st.add_argument(
        "--patience", type=staffing_command.patience_distribution, default="never", metavar="DIST",
        help="how long callers wait before hanging up: never (default, as Erlang C assumes), exp:MEAN, "
        "const:S, lognormal:MEAN,CV, uniform:LOW,HIGH",
    )  # fmt: skip
    st.add_argument(
        "--short-abandon", type=staffing_command.non_negative_number, default=0.0, metavar="SECONDS",
        help="leave calls abandoned within this many seconds out of the service level (default 0: none)",
    )  # fmt: skip

    pl = sub.add_parser(
        "plan",
        help="the deployment a province needs (X6), from the benchmarks' unit costs",
        description="Print the Redis memory and cluster masters, gateway processes and hosts, PostgreSQL "
        "size per month and evaluation time per shard count for a province, by arithmetic on the unit "
        "costs the benchmarks measured (benchmarks/unit_costs.toml). Needs no database.",
    )
    pl.add_argument("--subscribers", type=_positive, required=True, help="subscribers of the province")
    pl.add_argument(
        "--peak-calls-per-s", type=_positive, required=True, metavar="C", help="calls/s at the peak"
    )
    pl.add_argument(
        "--shards", type=_positive, default=1, metavar="K", help="evaluation shards (X4; default 1)"
    )
    pl.add_argument("--unit-costs", type=Path, metavar="FILE", help="default: benchmarks/unit_costs.toml")
    pl.add_argument(
        "--redis-master-gb", type=_positive, default=8, help="memory per Redis master (default 8)"
    )
    pl.add_argument("--headroom", type=_positive, default=2, help="capacity ÷ peak load (default 2)")
    pl.add_argument(
        "--cores-per-host", type=_positive, default=8, help="gateway processes per host (default 8)"
    )

    ag = sub.add_parser("agents", help="the hotline's agents: monthly star rating (A2), the directory")
    agsub = ag.add_subparsers(dest="agents_command", required=True, metavar="ACTION")
    rate = agsub.add_parser(
        "rate",
        help="rate every agent for a month from its QA evaluations (A2)",
        description="The weighted mean of each agent's QA evaluations of month M, cut into stars by the "
        "policy's thresholds; in force from the 1st of M+1. An agent without an evaluation keeps their star. "
        "Running a month again replaces that month's ratings.",
    )
    rate.add_argument("--month", required=True, help="the month of the evaluations, YYYY-MM")
    rate.add_argument("--policy", help="policy name (default CALLGATE_POLICY)")
    agsub.add_parser("list", help="every agent with desks and the star in force today")

    tokens = sub.add_parser("tokens", help="manage bearer tokens")
    tsub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="create a token; prints it alone on the last line")
    create.add_argument("--role", required=True, choices=["ivr", "agent", "branch", "admin", "sms"])
    create.add_argument("--branch", help="city or county branch code (role branch only)")
    create.add_argument("--agent", help="bind the token to this agent of the directory (role agent only, A1)")
    create.add_argument("--name", default="", help="a label for the token's holder")
    create.add_argument("--expires-in", type=_duration, help="e.g. 90m, 12h, 30d (default: until revoked)")
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    tsub.add_parser("list", help="list tokens (never their secrets)")
    return parser


Action = Callable[[Any, Settings], Awaitable[int]]


async def _with_db(stores: Stores, action: Action) -> int:
    assert stores.settings.database_url is not None
    conn = await db.connect(stores.settings.database_url)
    try:
        return await action(conn, stores.settings)
    finally:
        await conn.close()


async def cmd_migrate(conn: Any, _settings: Settings) -> int:
    """Apply pending migrations."""
    done = await migrations.migrate(conn)
    print(f"applied {len(done)} migration(s){': ' + ', '.join(done) if done else ''}; schema is current")
    return 0


def _run_db_command(
    settings: Settings,
    action: Action,
    *,
    migrate: bool = True,
    need_redis: bool = False,
) -> int:
    stores = start_stores(settings, need_redis=need_redis)
    try:

        async def run(conn: Any, resolved: Settings) -> int:
            if migrate:
                await migrations.migrate(conn)
            return await action(conn, resolved)

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
    if args.command not in ("staffing", "plan"):  # the commands that touch no store or data dir
        set_log_key(load_log_key(settings.log_key, settings.data_dir))
    try:
        return _dispatch(args, settings)
    except (CliError, CommandError, EmbeddedStoreError, migrations.MigrationError) as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 1
    except LockNotAvailableError as exc:  # the server's lock_timeout (the embedded one: 10 s)
        print(
            f"callgate: another session holds a lock this command needs (PostgreSQL: {exc}); "
            "what the command had not committed was rolled back: run it again once that "
            "session is done",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("callgate: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli import commands

    if args.command == "serve":
        from gateway.cli.serve import serve

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
            lambda c, st: commands.demo_data(c, st, args.subscribers, args.seed, args.reset),
        )
    if args.command == "import" and args.kind == "points":  # the cache follows (P3): needs Redis
        return _run_db_command(
            settings, lambda c, st: commands.import_points(c, st, args.file), need_redis=True
        )
    if args.command == "import":
        return _run_db_command(settings, lambda c, st: commands.import_csv(c, st, args.kind, args.file))
    if args.command == "evaluate" and args.dry_run and args.shard is not None:
        raise CliError(
            "--shard goes with a real run: a --dry-run writes nothing and reads the whole month in one "
            "invocation (use --workers to share it among processes)"
        )
    if args.command == "evaluate" and args.dry_run:
        # Checked before any store starts: a policy that does not validate reads no row (O1).
        candidate, content, baseline = commands.dry_run_policies(settings, args.policy, args.override)
        return _run_db_command(
            settings,
            lambda c, st: commands.evaluate_dry_run(
                c, st, args.month, candidate, baseline, args.override or st.policy_override, content,
                args.run_date, args.batch, args.workers, args.report, args.vip_calls_per_hour,
            ),
            migrate=False,
            need_redis=False,
        )  # fmt: skip
    if args.command == "evaluate":
        for flag, value in (
            ("--override", args.override), ("--report", args.report),
            ("--vip-calls-per-hour", args.vip_calls_per_hour),
        ):  # fmt: skip
            if value is not None:
                raise CliError(f"{flag} goes with --dry-run (a real run uses CALLGATE_POLICY_OVERRIDE)")
        return _run_db_command(
            settings,
            lambda c, st: commands.evaluate_month(
                c, st, args.month, args.policy, args.run_date, args.batch, args.workers, args.shard or (1, 1)
            ),
            need_redis=True,
        )
    if args.command == "retention":
        return _run_db_command(
            settings, lambda c, st: commands.retention(c, st, args.keep_months, args.dry_run)
        )
    if args.command == "explain":
        return _run_db_command(settings, lambda c, st: commands.explain(c, st, args.msisdn, args.lang))
    if args.command == "thresholds":
        return _run_db_command(
            settings,
            lambda c, st: commands.thresholds_propose(
                c, st, args.month, args.shares, args.valid_from, args.write
            ),
        )
    if args.command == "cache":
        return _run_db_command(settings, lambda c, st: commands.cache_rebuild(c, st), need_redis=True)
    if args.command == "notify":
        return _run_db_command(settings, lambda c, st: commands.notify_send(c, st, args.limit))
    if args.command == "staffing":
        return staffing_command.run(args)
    if args.command == "plan":
        return commands.plan(args, settings)
    if args.command == "agents":
        if args.agents_command == "rate":
            return _run_db_command(
                settings, lambda c, st: commands.agents_rate(c, st, args.month, args.policy)
            )
        return _run_db_command(settings, lambda c, st: commands.agents_list(c, st))
    if args.command == "tokens":
        if args.tokens_command == "create":
            return _run_db_command(
                settings,
                lambda c, st: commands.tokens_create(
                    c, st, args.role, args.branch, args.name, args.expires_in, args.agent
                ),
            )
        if args.tokens_command == "revoke":
            return _run_db_command(settings, lambda c, st: commands.tokens_revoke(c, args.id))
        return _run_db_command(settings, lambda c, st: commands.tokens_list(c))
    raise CliError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
