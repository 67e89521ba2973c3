"""The W4 sweeper: an unpaid order past its deadline becomes overdue and the number is
suspended again; two sweepers running at once record exactly one overdue event per order."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import asyncpg
from redis.asyncio import Redis

from entitlements.policy import load_policy
from gateway.http.app import create_app
from gateway.metrics import Metrics
from gateway.services.sweeper import sweep_once
from gateway.settings import Settings
from gateway.stores import db
from tests.gateway import grants
from tests.gateway.grants import GOLD, ClientFactory, Tokens

DEFAULT = load_policy("unicom-2015")
# rule H9: the sweeper re-suspends by itself only with auto_resuspend = true
POLICY = dataclasses.replace(
    DEFAULT, work_orders=dataclasses.replace(DEFAULT.work_orders, auto_resuspend=True)
)
NOW = datetime.fromisoformat("2026-11-26T10:00:00+08:00")
LATER = NOW + timedelta(hours=48, minutes=1)  # rule W4: the 48-hour window has ended


async def grant_orders(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens, n: int
) -> list[str]:
    numbers = [f"186123470{i:02d}" for i in range(n)]
    for msisdn in numbers:
        await grants.customer(conn, msisdn)
    client = await aiohttp_client(create_app(settings))
    for msisdn in numbers:
        status, body = await grants.reactivate(client, tokens.agent, msisdn, grants.reactivation_body(msisdn))
        assert status == 201, body
    return numbers


async def test_an_unpaid_order_past_its_deadline_is_resuspended(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule W4, rule R6
    await grant_orders(aiohttp_client, settings, conn, tokens, 1)
    await grants.customer(conn, GOLD)  # paid before the deadline: left alone
    await grants.credit_grant(conn, GOLD, 100)
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    redis = Redis.from_url(redis_url)
    metrics = Metrics()
    try:
        early = await sweep_once(pool, redis, metrics, POLICY, NOW + timedelta(hours=47))
        assert (early.resuspended, early.paid) == (0, 0)
        summary = await sweep_once(pool, redis, metrics, POLICY, LATER)
        assert (summary.resuspended, summary.paid) == (1, 0)
        again = await sweep_once(pool, redis, metrics, POLICY, LATER + timedelta(hours=1))
        assert (again.resuspended, again.paid, again.skipped) == (0, 0, 0)
    finally:
        await pool.close()
    events = await conn.fetch(
        "SELECT kind, from_status, to_status, actor, note FROM work_order_events ORDER BY id"
    )
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "new"),
        ("overdue", "new", "overdue"),
        ("resuspend", "overdue", "resuspended"),
    ]
    assert {e["actor"] for e in events[1:]} == {"system:sweeper"} and all(e["note"] for e in events)
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = '18612347000'") == "suspended"
    cached = await grants.cached(redis_url, "18612347000")
    assert cached is not None and cached.status == "suspended" and cached.unpaid_grant
    assert metrics.sweeper._value.get() == 1
    await redis.aclose()


async def test_an_order_whose_arrears_were_paid_elsewhere_is_resolved_as_paid(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule W4: a payment imported from billing (not through the API) is found at the deadline
    (msisdn,) = await grant_orders(aiohttp_client, settings, conn, tokens, 1)
    await conn.execute(
        "INSERT INTO payments (msisdn, paid_at, amount_fen, source) VALUES ($1, $2, 10000, 'import')",
        msisdn,
        NOW,
    )
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    redis = Redis.from_url(redis_url)
    try:
        summary = await sweep_once(pool, redis, Metrics(), POLICY, LATER)
    finally:
        await pool.close()
        await redis.aclose()
    assert (summary.resuspended, summary.paid) == (0, 1)
    assert await conn.fetchval("SELECT status FROM work_orders") == "paid"
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", msisdn) == "active"


async def test_two_concurrent_sweepers_record_one_overdue_event_per_order(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule W4: FOR UPDATE SKIP LOCKED lets several processes sweep at once
    numbers = await grant_orders(aiohttp_client, settings, conn, tokens, 30)
    pools = [await db.create_pool(database_url, min_size=1, max_size=2) for _ in range(2)]
    redis = Redis.from_url(redis_url)
    metrics = [Metrics(), Metrics()]
    try:
        for _ in range(3):  # keep sweeping until every order is handled; skipped rows come back
            await asyncio.gather(
                *(sweep_once(p, redis, m, POLICY, LATER) for p, m in zip(pools, metrics, strict=True))
            )
    finally:
        for p in pools:
            await p.close()
        await redis.aclose()
    overdue = await conn.fetch(
        "SELECT order_id, count(*) AS n FROM work_order_events WHERE kind = 'overdue' GROUP BY order_id"
    )
    assert len(overdue) == 30 and {r["n"] for r in overdue} == {1}
    assert await conn.fetchval("SELECT count(*) FROM work_order_events WHERE kind = 'resuspend'") == 30
    assert await conn.fetchval("SELECT count(*) FROM work_orders WHERE status = 'resuspended'") == 30
    counted = sum(m.sweeper._value.get() for m in metrics)
    assert counted == 30
    suspended = await conn.fetchval(
        "SELECT count(*) FROM subscribers WHERE status = 'suspended' AND msisdn = ANY($1)", numbers
    )
    assert suspended == 30


async def test_the_sweeper_leaves_a_cancelled_number_cancelled(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    (msisdn,) = await grant_orders(aiohttp_client, settings, conn, tokens, 1)
    await conn.execute("UPDATE subscribers SET status = 'cancelled' WHERE msisdn = $1", msisdn)
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    redis = Redis.from_url(redis_url)
    try:
        await sweep_once(pool, redis, Metrics(), POLICY, LATER)
    finally:
        await pool.close()
        await redis.aclose()
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", msisdn) == "cancelled"
