"""Bodies of the CLI commands that work on the database."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import asyncpg

from entitlements.months import shanghai_today
from gateway import demo, importer
from gateway.settings import Settings
from gateway.tokens import create_token

DATA_TABLES = (
    "audit_log", "work_order_events", "work_orders", "credit_debits", "reactivations",
    "notifications", "evaluation_runs", "tier_assignments", "payments", "bills",
    "password_failures", "idempotency_keys", "subscribers", "customer_managers", "api_tokens",
    "branches",
)  # fmt: skip


async def reset_data(conn: asyncpg.Connection) -> None:
    """Delete every row of every data table (schema stays)."""
    await conn.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")


async def demo_data(conn: asyncpg.Connection, settings: Settings, n: int, seed: int, reset: bool) -> int:
    """`callgate demo-data`."""
    existing = await conn.fetchval("SELECT count(*) FROM subscribers")
    if existing and not reset:
        print(
            f"callgate: the database already holds {existing:,} subscribers; "
            "add --reset to replace everything with a demo province",
            file=sys.stderr,
        )
        return 1
    if reset:
        await reset_data(conn)
    summary = await demo.load(conn, n, seed, shanghai_today(settings.clock()))
    print(
        f"demo province: {summary.subscribers:,} subscribers, {summary.bills:,} bills, "
        f"{summary.legacy_cards:,} legacy VIP cards in {summary.seconds:.1f} s"
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


async def tokens_create(
    conn: asyncpg.Connection,
    settings: Settings,
    role: str,
    branch: str | None,
    name: str,
    expires_in: timedelta | None,
) -> int:
    """`callgate tokens create`: the token alone on the last line of stdout."""
    expires_at = settings.clock() + expires_in if expires_in else None
    try:
        token_id, token = await create_token(conn, role, branch, name, expires_at)
    except ValueError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 2
    until = f"expires {expires_at.isoformat()}" if expires_at else "valid until revoked"
    print(f"token id {token_id}, role {role}{' @' + branch if branch else ''}, {until}")
    print(token)
    return 0


async def tokens_revoke(conn: asyncpg.Connection, token_id: int) -> int:
    """`callgate tokens revoke ID`."""
    status = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    if status.endswith(" 0"):
        print(f"callgate: no live token with id {token_id}", file=sys.stderr)
        return 1
    print(f"token {token_id} revoked (servers stop accepting it within seconds)")
    return 0


async def tokens_list(conn: asyncpg.Connection) -> int:
    """`callgate tokens list`."""
    rows = await conn.fetch(
        """SELECT id, role, branch_code, name, demo, created_at, expires_at, revoked_at
           FROM api_tokens ORDER BY id"""
    )
    for r in rows:
        state = (
            "revoked"
            if r["revoked_at"]
            else ("expires " + r["expires_at"].isoformat() if r["expires_at"] else "live")
        )
        print(
            f"{r['id']:>5}  {r['role']:<6} {r['branch_code'] or '-':<10} {state:<32} "
            f"{'demo ' if r['demo'] else ''}{r['name']}"
        )
    return 0
