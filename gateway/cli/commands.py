"""Bodies of the CLI commands that work on the database."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from entitlements.errors import PolicyError
from entitlements.months import SHANGHAI, Month, shanghai_today
from entitlements.policy import Policy, load_policy, read_policy
from entitlements.scored import milli_text
from entitlements.thresholds import propose_thresholds, threshold_override
from gateway.batch import agent_rating, demo, evaluation, importer
from gateway.batch import plan as planning
from gateway.batch import retention as retention_batch
from gateway.batch.whatif import WhatIf
from gateway.batch.whatif_report import write_report
from gateway.logs import mask
from gateway.numbers import InvalidNumber, normalise
from gateway.services import cache, notify
from gateway.services.subscribers import explain_lines
from gateway.services.tokens import create_token
from gateway.settings import Settings
from gateway.stores import cluster, migrations
from gateway.stores.queries import agents as agent_rows
from gateway.stores.queries import demo as demo_rows
from gateway.stores.queries import desk_rates, snapshot, subscribers, tiers, tokens


async def demo_data(conn: asyncpg.Connection, settings: Settings, n: int, seed: int, reset: bool) -> int:
    """`callgate demo-data`."""
    existing = await subscribers.count(conn)
    if existing and not reset:
        print(
            f"callgate: the database already holds {existing:,} subscribers; "
            "add --reset to replace everything with a demo province",
            file=sys.stderr,
        )
        return 1
    if reset:
        await demo_rows.reset(conn)
    policy = load_configured_policy(settings)
    summary = await demo.load(conn, n, seed, shanghai_today(settings.clock()), policy=policy)
    print(
        f"demo province: {summary.subscribers:,} subscribers, {summary.bills:,} bills, "
        f"{summary.legacy_cards:,} legacy VIP cards, {summary.points_grants:,} points grants, "
        f"{summary.benefit_uses:,} VIP service uses in {summary.seconds:.1f} s"
    )
    return 0


async def import_csv(conn: asyncpg.Connection, settings: Settings, kind: str, path: Path) -> int:
    """`callgate import KIND FILE`."""
    try:
        result = await importer.import_file(conn, kind, path, shanghai_today(settings.clock()))
    except importer.ImportRejected as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 1
    print(
        f"imported {result.rows:,} {kind} rows from {path.name}: {result.inserted:,} new, "
        f"{result.updated:,} updated/unchanged, in {result.seconds:.1f} s"
    )
    return 0


async def import_points(conn: asyncpg.Connection, settings: Settings, path: Path) -> int:
    """`callgate import points FILE` (P1): the grants, the threshold days (P2), the cache (P3)."""
    from gateway.metrics import Metrics
    from gateway.services import points

    policy = load_configured_policy(settings)
    redis = await _redis(settings)
    try:
        done = await points.import_points(
            conn, redis, Metrics(), policy, path, shanghai_today(settings.clock())
        )
    except importer.ImportRejected as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    result = done.result
    print(
        f"imported {result.rows:,} points rows from {path.name}: {result.inserted:,} new grants, "
        f"{result.updated:,} already in the ledger, for {len(result.affected_msisdns):,} subscribers; "
        f"{done.reached:,} reached the {policy.points.threshold:,}-point redemption threshold; "
        f"in {result.seconds:.1f} s"
    )
    return 0


async def tokens_create(
    conn: asyncpg.Connection,
    settings: Settings,
    role: str,
    branch: str | None,
    name: str,
    expires_in: timedelta | None,
    agent: str | None = None,
) -> int:
    """`callgate tokens create`: the token alone on the last line of stdout."""
    if expires_in is not None and expires_in <= timedelta(0):  # the parser refuses it; never "forever"
        print("callgate: --expires-in must be a positive duration", file=sys.stderr)
        return 2
    expires_at = settings.clock() + expires_in if expires_in is not None else None
    try:
        token_id, token = await create_token(conn, role, branch, name, expires_at, agent)
    except ValueError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 2
    until = f"expires {expires_at.isoformat()}" if expires_at else "valid until revoked"
    bound = f", agent {agent} only" if agent else ""
    print(f"token id {token_id}, role {role}{' @' + branch if branch else ''}{bound}, {until}")
    print(token)
    return 0


async def tokens_revoke(conn: asyncpg.Connection, token_id: int) -> int:
    """`callgate tokens revoke ID`."""
    if not await tokens.revoke(conn, token_id):
        print(f"callgate: no live token with id {token_id}", file=sys.stderr)
        return 1
    print(f"token {token_id} revoked (servers stop accepting it within seconds)")
    return 0


async def tokens_list(conn: asyncpg.Connection) -> int:
    """`callgate tokens list`."""
    for t in await tokens.listing(conn):
        state = (
            "revoked" if t.revoked_at else ("expires " + t.expires_at.isoformat() if t.expires_at else "live")
        )
        print(
            f"{t.id:>5}  {t.role:<6} {t.branch_code or t.agent_id or '-':<10} {state:<32} "
            f"{'demo ' if t.demo else ''}{t.name}"
        )
    return 0


async def agents_rate(
    conn: asyncpg.Connection, settings: Settings, month_text: str, policy_name: str | None
) -> int:
    """`callgate agents rate --month M` (A2)."""
    try:
        month = Month.parse(month_text)
    except ValueError:
        print(f"callgate: --month {month_text!r} is not a month (YYYY-MM)", file=sys.stderr)
        return 2
    if month > Month.of(shanghai_today(settings.clock())):
        print(f"callgate: {month} has not begun; rate a month whose evaluations exist", file=sys.stderr)
        return 2
    policy = load_configured_policy(settings, policy_name)
    run = await agent_rating.rate_month(conn, policy, month)
    print(
        f"agents rated for {month} (in force from {run.effective_from}, "
        f"policy {policy.name} {policy.version}): "
        f"{len(run.ratings)} rated — {run.count('raised')} raised, {run.count('lowered')} lowered, "
        f"{run.count('unchanged')} unchanged; {len(run.kept)} kept their star (no evaluation)"
    )
    for r in run.ratings:
        score = f"{r.score_hundredths // 100}.{r.score_hundredths % 100:02d}"
        print(f"  {r.agent_id:<12} {r.previous_star} → {r.star}  score {score} ({r.evaluations} evaluations)")
    return 0


async def agents_list(conn: asyncpg.Connection, settings: Settings) -> int:
    """`callgate agents list`: the directory with the star in force today."""
    for a in await agent_rows.directory(conn, shanghai_today(settings.clock())):
        source = f"rating {a.rated_month:%Y-%m}" if a.rated_month else "import"
        print(f"{a.id:<12} {a.name:<10} {a.branch_code:<10} {','.join(a.desks):<12} {a.star}★ ({source})")
    return 0


def load_configured_policy(settings: Settings, name: str | None = None) -> Policy:
    """The policy named (or the deployment's), with the provincial override applied."""
    try:
        return load_policy(name or settings.policy, settings.policy_override)
    except (PolicyError, KeyError, FileNotFoundError) as exc:
        raise CommandError(f"policy {name or settings.policy!r}: {exc}") from exc


class CommandError(Exception):
    """A command cannot proceed; the message says why."""


async def _redis(settings: Settings) -> Redis:
    assert settings.redis_url is not None
    return cluster.client(settings.redis_url, socket_timeout=10.0)  # X1: a cluster URL too


async def evaluate_month(
    conn: asyncpg.Connection,
    settings: Settings,
    month_text: str,
    policy_name: str | None,
    run_date: date | None,
    batch: int,
    workers: int,
    shard: tuple[int, int] = (1, 1),
) -> int:
    """`callgate evaluate --month YYYY-MM [--shard I/N]`."""
    try:
        month = Month.parse(month_text)
    except ValueError as exc:
        raise CommandError(f"--month {month_text!r}: write it as YYYY-MM") from exc
    policy = load_configured_policy(settings, policy_name)
    assert settings.database_url is not None
    try:
        summary = await evaluation.run(
            conn,
            policy,
            month,
            shanghai_today(settings.clock()),
            dsn=settings.database_url,
            redis_url=settings.redis_url,
            override=settings.policy_override,
            run_date=run_date,
            batch=batch,
            workers=workers,
            now=settings.clock(),
            shard=shard,
        )
    except evaluation.EvaluationRefused as exc:
        raise CommandError(str(exc)) from exc
    print("\n".join(summary.lines()))
    return 1 if summary.cache_failed else 0


async def retention(conn: asyncpg.Connection, settings: Settings, keep_months: int, dry_run: bool) -> int:
    """`callgate retention --keep-months K [--dry-run]` (X5)."""
    try:
        result = await retention_batch.apply(
            conn, keep_months, shanghai_today(settings.clock()), dry_run=dry_run
        )
    except retention_batch.RetentionRefused as exc:
        raise CommandError(str(exc)) from exc
    print("\n".join(result.lines()))
    return 0


def dry_run_policies(
    settings: Settings, name: str | None, override: Path | None
) -> tuple[Policy, bytes | None, Policy]:
    """O1: (the policy to try, its override's bytes as validated, the policy in force).

    The policy to try is `name` (default CALLGATE_POLICY) with `override` (default
    CALLGATE_POLICY_OVERRIDE); the policy in force is the deployment's. Every fault of
    either is listed in the CommandError, and nothing has been read from the stores yet.
    """
    path = override if override is not None else settings.policy_override
    faults: list[PolicyError] = []
    content = candidate = baseline = None
    try:
        content = path.read_bytes() if path is not None else None
        candidate = read_policy(name or settings.policy, path, content)
    except OSError as exc:
        faults.append(PolicyError(str(path), "", f"cannot read the override: {exc.strerror or exc}"))
    except PolicyError as exc:
        faults.extend(exc.errors)
    if name in (None, settings.policy) and path == settings.policy_override:
        baseline = candidate  # the same policy and file: one read, one validation
    else:
        try:
            baseline = read_policy(settings.policy, settings.policy_override)
        except PolicyError as exc:
            faults.extend(
                PolicyError(e.file, e.key, f"{e.problem} (the policy in force, {settings.policy})")
                for e in exc.errors
            )
    if faults:
        listed = "\n".join(f"  {fault}" for fault in faults)
        raise CommandError(
            f"the policy does not validate ({len(faults)} fault{'s' if len(faults) > 1 else ''}); "
            f"nothing was read:\n{listed}"
        )
    assert candidate is not None and baseline is not None
    return candidate, content, baseline


async def evaluate_dry_run(
    conn: asyncpg.Connection,
    settings: Settings,
    month_text: str,
    candidate: Policy,
    baseline: Policy,
    override: Path | None,
    content: bytes | None,
    run_date: date | None,
    batch: int,
    workers: int,
    report: Path | None,
    calls_per_hour: float | None,
) -> int:
    """`callgate evaluate --month M --dry-run` (O1): the what-if, with nothing written."""
    try:
        month = Month.parse(month_text)
    except ValueError as exc:
        raise CommandError(f"--month {month_text!r}: write it as YYYY-MM") from exc
    todo = await migrations.pending(conn)
    if todo:
        raise CommandError(
            f"the schema is not current ({', '.join(m.version for m in todo)} pending): run "
            "`callgate migrate` first (a dry run writes nothing, migrations included)"
        )
    assert settings.database_url is not None
    try:
        summary = await evaluation.dry_run(
            conn,
            candidate,
            month,
            shanghai_today(settings.clock()),
            baseline=baseline,
            dsn=settings.database_url,
            override=override,
            override_content=content,
            run_date=run_date,
            batch=batch,
            workers=workers,
        )
    except evaluation.EvaluationRefused as exc:
        raise CommandError(str(exc)) from exc
    rates, note = await vip_rates(conn, settings, calls_per_hour)
    result = WhatIf(candidate, baseline, summary, rates, note)
    print("\n".join(result.lines()))
    if report is not None:
        for path in write_report(result, report):
            print(f"report: {path}")
    return 0


async def vip_rates(
    conn: asyncpg.Connection, settings: Settings, calls_per_hour: float | None
) -> tuple[list[tuple[str, float]], str | None]:
    """The VIP desk's calling rates to staff for (label, calls per hour), or why there is none."""
    if calls_per_hour is not None:
        return [("given with --vip-calls-per-hour", calls_per_hour)], None
    now = settings.clock()
    rate = await desk_rates.calls_per_hour(conn, "vip", now)
    required = "the VIP desk's calling rate is required: give --vip-calls-per-hour N"
    if rate.intervals == 0:
        return (
            [],
            f"{required} (the queue statistics hold no vip interval in the 30 days before {now:%Y-%m-%d})",
        )
    rates = [
        (
            f"mean hour, last 30 days ({rate.intervals:,} intervals, {rate.offered:,} calls)",
            rate.mean_per_hour,
        )
    ]
    if rate.busiest_hour is not None:
        hour = rate.busiest_hour.astimezone(SHANGHAI)
        rates.append((f"busiest hour ({hour:%Y-%m-%d %H:00})", float(rate.busiest_offered)))
    return rates, None


async def explain(conn: asyncpg.Connection, settings: Settings, raw: str, lang: str) -> int:
    """`callgate explain MSISDN`: the tier in force and why, plus a pending change."""
    try:
        msisdn = normalise(raw)
    except InvalidNumber as exc:
        raise CommandError(f"{raw!r} is not a valid number: {exc.reason}") from exc
    policy = load_configured_policy(settings)
    today = shanghai_today(settings.clock())
    snap = await snapshot.load_one(conn, msisdn, today)
    if snap is None:
        raise CommandError(f"{mask(msisdn)} is not a subscriber")
    rows = await tiers.explanations(conn, msisdn, policy.name)
    lines = explain_lines(snap, rows, policy, today, lang)
    print("\n".join(lines))
    return 0


async def cache_rebuild(conn: asyncpg.Connection, settings: Settings) -> int:
    """`callgate cache rebuild`."""
    policy = load_configured_policy(settings)
    redis = await _redis(settings)
    try:
        summary = await cache.rebuild(conn, redis, policy, shanghai_today(settings.clock()))
    finally:
        await redis.aclose()
    print(
        f"cache rebuilt: {summary.written:,} records written, {summary.deleted:,} removed "
        f"in {summary.seconds:.1f} s"
    )
    return 0


async def notify_send(conn: asyncpg.Connection, settings: Settings, limit: int | None) -> int:
    """`callgate notify`."""
    if settings.sms_gateway_url is None:
        waiting = await notify.pending_count(conn)
        print(f"{waiting:,} SMS notifications pending; set CALLGATE_SMS_URL to deliver them (nothing sent)")
        return 0
    summary = await notify.deliver(conn, settings.sms_gateway_url, limit=limit)
    print(
        f"sent {summary.sent:,}, will retry {summary.retried:,}, failed for good {summary.failed:,}; "
        f"{summary.pending:,} still pending"
    )
    return 0 if summary.retried == 0 and summary.failed == 0 else 1


async def thresholds_propose(
    conn: asyncpg.Connection,
    settings: Settings,
    month_text: str,
    shares_text: str,
    valid_from_text: str | None,
    write: Path | None,
) -> int:
    """`callgate thresholds propose`: star thresholds from a month's value distribution (T1.7)."""
    policy = load_configured_policy(settings)
    try:
        month = Month.parse(month_text)
        valid_from = Month.parse(valid_from_text) if valid_from_text else month + 1
        shares = dict(part.split("=", 1) for part in shares_text.split(","))
    except ValueError as exc:
        raise CommandError(f"--month/--valid-from YYYY-MM and --shares level=share,…: {exc}") from exc
    figures = await tiers.rated_values(conn, policy.name, month.first_day)
    if not figures:
        raise CommandError(f"no rated {policy.name} evaluation for {month}: run `callgate evaluate` first")
    values = [int(Decimal(value) * 1000) for value in figures]
    try:
        proposal = propose_thresholds(values, shares)
        text = threshold_override(policy, proposal, valid_from)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print(
        f"{len(values):,} rated subscribers in {month}; proposed value thresholds (lower bounds, inclusive):"
    )
    for level, bound in proposal.items():
        share = sum(1 for v in values if v >= bound) / len(values)
        print(f"  {level:<11} ≥ {milli_text(bound):>8}   ({share:.1%} at or above)")
    if write is not None:
        write.write_text(text + "\n", encoding="utf-8")
        print(f"override written to {write}; use it with CALLGATE_POLICY_OVERRIDE={write}")
    else:
        print("\n" + text)
    return 0


UNIT_COSTS = Path(__file__).resolve().parents[2] / "benchmarks" / "unit_costs.toml"


def plan(args: argparse.Namespace, settings: Settings) -> int:
    """`callgate plan` (X6): the province's deployment from the measured unit costs."""
    try:
        costs = planning.load_unit_costs(args.unit_costs or UNIT_COSTS)
    except planning.UnitCostsError as exc:
        raise CommandError(str(exc)) from exc
    assume = planning.Assumptions(
        call_memory_s=settings.call_memory_s,
        redis_master_gb=args.redis_master_gb,
        headroom=args.headroom,
        cores_per_host=args.cores_per_host,
    )
    result = planning.plan(costs, args.subscribers, args.peak_calls_per_s, args.shards, assume)
    print(planning.render(result, costs))
    return 0
