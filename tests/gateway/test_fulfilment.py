"""VIP fulfilment (H8) after a real monthly evaluation, and the city branch's control of the
48-hour window (H9), against real PostgreSQL and Redis."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation, fulfilment
from gateway.http.app import create_app
from gateway.metrics import Metrics
from gateway.services.sweeper import sweep_once
from gateway.settings import Settings
from gateway.stores import db
from tests.conftest import FIXED_NOW
from tests.gateway import grants, province
from tests.gateway.grants import GOLD, ClientFactory, Tokens

VIP = load_policy("unicom-vip")
UNICOM = load_policy("unicom-2015")
DIAMOND, GOLDEN, SILVER, PLAIN = "18612348001", "18612348002", "18612348003", "18612348004"


async def province_of_four(conn: asyncpg.Connection) -> int:
    """Four postpaid customers whose last six months average 500, 350, 200 and 50 yuan; the
    gold one already has a manager. Returns the manager's id."""
    manager = await conn.fetchval(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ('王丽', '10018001', 'HA-ZZ') RETURNING id"
    )
    for msisdn, yuan in ((DIAMOND, 500), (GOLDEN, 350), (SILVER, 200), (PLAIN, 50)):
        await province.subscriber(conn, msisdn, manager_id=manager if msisdn == GOLDEN else None)
        await province.bills(conn, msisdn, "2025-11", "2026-10", yuan)
    return int(manager)


async def evaluate(conn: asyncpg.Connection, database_url: str, redis_url: str) -> evaluation.RunSummary:
    return await evaluation.run(
        conn, VIP, Month.parse("2026-11"), date(2026, 11, 26), dsn=database_url, redis_url=redis_url,
        workers=1, show_progress=False, now=FIXED_NOW,
    )  # fmt: skip


async def orders(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch("SELECT kind, msisdn, status FROM work_orders ORDER BY kind, msisdn")
    return [(r["kind"], r["msisdn"], r["status"]) for r in rows]


async def test_an_evaluation_issues_each_fulfilment_order_once(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule H8: a manager assignment per new manager-level customer without one, a card issue
    # per new card; due by the month's last day; a re-run creates none twice
    await province_of_four(conn)
    summary = await evaluate(conn, database_url, redis_url)
    assert summary.orders == {"manager_assignment": 1, "card_issue": 3}
    assert await orders(conn) == [
        ("card_issue", DIAMOND, "new"),
        ("card_issue", GOLDEN, "new"),
        ("card_issue", SILVER, "new"),
        ("manager_assignment", DIAMOND, "new"),
    ]
    row = await grants.row(conn, "SELECT city_code, due_at, month FROM work_orders LIMIT 1")
    assert row["city_code"] == "HA-ZZ" and row["month"] == date(2026, 11, 1)
    assert row["due_at"] == datetime.fromisoformat("2026-12-01T00:00:00+08:00")
    again = await evaluate(conn, database_url, redis_url)
    assert again.already_done and again.orders == {}
    assert await fulfilment.issue_orders(conn, VIP, Month.parse("2026-11"), FIXED_NOW) == {}
    assert len(await orders(conn)) == 4
    events = await conn.fetch("SELECT kind, actor FROM work_order_events")
    assert len(events) == 4 and {(e["kind"], e["actor"]) for e in events} == {
        ("created", "system:evaluation")
    }

    client = await aiohttp_client(create_app(settings))
    status, body = await grants.call(client, "GET", "/v1/work-orders?kind=card_issue", tokens.zz_city)
    assert status == 200 and [i["kind"] for i in body["items"]] == ["card_issue"] * 3
    status, body = await grants.call(client, "GET", "/v1/work-orders?kind=bogus", tokens.zz_city)
    assert status == 400


async def test_done_on_a_manager_assignment_sets_the_manager(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule H8, rule H7: the lookup then names the manager
    manager = await province_of_four(conn)
    await evaluate(conn, database_url, redis_url)
    order_id = await conn.fetchval("SELECT id FROM work_orders WHERE kind = 'manager_assignment'")
    client = await aiohttp_client(create_app(settings))
    path = f"/v1/work-orders/{order_id}/events"
    status, body = await grants.call(client, "POST", path, tokens.zz_city, {"kind": "done"})
    assert status == 400 and body["code"] == "invalid_request"  # names no manager
    status, body = await grants.call(
        client, "POST", path, tokens.ly_city, {"kind": "done", "manager_id": manager}
    )
    assert status == 404  # another city's order
    status, body = await grants.call(
        client, "POST", path, tokens.zz_city, {"kind": "done", "manager_id": manager}
    )
    assert status == 201 and body["status"] == "done" and body["manager_id"] == manager, body
    assert await conn.fetchval("SELECT manager_id FROM subscribers WHERE msisdn = $1", DIAMOND) == manager
    cached = await grants.cached(redis_url, DIAMOND)  # the cache follows: the lookup names the manager
    assert cached is not None and cached.manager_id == manager


async def test_fulfilment_orders_not_done_by_the_month_end_are_overdue(
    conn: asyncpg.Connection, tokens: Tokens, database_url: str, redis_url: str
) -> None:
    # rule H8
    await province_of_four(conn)
    await evaluate(conn, database_url, redis_url)
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    redis = Redis.from_url(redis_url)
    try:
        before = await sweep_once(
            pool, redis, Metrics(), VIP, datetime.fromisoformat("2026-11-30T23:59:00+08:00")
        )
        after = await sweep_once(
            pool, redis, Metrics(), VIP, datetime.fromisoformat("2026-12-01T00:00:00+08:00")
        )
    finally:
        await pool.close()
        await redis.aclose()
    assert (before.fulfilment_overdue, after.fulfilment_overdue) == (0, 4)
    assert {s for _, _, s in await orders(conn)} == {"overdue"}


# --- H9: the city branch controls the window ---------------------------------------------


async def granted_order(client: Any, tokens: Tokens) -> int:
    status, body = await grants.reactivate(client, tokens.agent, "k")
    assert status == 201, body
    return int(body["work_order_id"])


async def test_the_city_extends_the_window_and_the_sweeper_leaves_the_number_alone(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule H9: extend moves the deadline; without auto_resuspend the sweeper only marks overdue
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await granted_order(client, tokens)
    path = f"/v1/work-orders/{order_id}/events"
    due = await conn.fetchval("SELECT due_at FROM work_orders WHERE id = $1", order_id)
    dispatch = {"kind": "dispatch", "county_code": "HA-ZZ-ZM", "tracker": "王伟"}
    assert (await grants.call(client, "POST", path, tokens.zz_city, dispatch))[0] == 201
    status, body = await grants.call(client, "POST", path, tokens.zz_county, {"kind": "extend", "hours": 24})
    assert status == 403  # the county branch does not control the window
    status, body = await grants.call(client, "POST", path, tokens.zz_city, {"kind": "extend", "hours": 24})
    assert status == 201 and body["status"] == "dispatched", body
    assert datetime.fromisoformat(body["due_at"]) == due + timedelta(hours=24)
    assert body["events"][-1]["kind"] == "extend"

    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    redis = Redis.from_url(redis_url)
    try:
        on_time = await sweep_once(pool, redis, Metrics(), UNICOM, due + timedelta(hours=1))
        late = await sweep_once(pool, redis, Metrics(), UNICOM, due + timedelta(hours=25))
    finally:
        await pool.close()
        await redis.aclose()
    assert (on_time.overdue, late.overdue, late.resuspended) == (0, 1, 0)
    assert await conn.fetchval("SELECT status FROM work_orders WHERE id = $1", order_id) == "overdue"
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD) == "active"

    status, body = await grants.call(client, "POST", path, tokens.zz_city, {"kind": "resuspend"})
    assert status == 201 and body["status"] == "resuspended"
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD) == "suspended"
    cached = await grants.cached(redis_url, GOLD)
    assert cached is not None and cached.status == "suspended"


async def test_the_city_may_resuspend_before_the_window_ends(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H9: "市公司客服呼叫中心对逾期未缴费的客户做停机处理" — at any time, by the city
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await granted_order(client, tokens)
    status, body = await grants.call(
        client, "POST", f"/v1/work-orders/{order_id}/events", tokens.zz_city, {"kind": "resuspend"}
    )
    assert status == 201 and body["status"] == "resuspended", body
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD) == "suspended"


async def test_auto_resuspend_in_the_policy_lets_the_sweeper_suspend(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule H9: auto_resuspend = true
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await granted_order(client, tokens)
    auto = dataclasses.replace(
        UNICOM, work_orders=dataclasses.replace(UNICOM.work_orders, auto_resuspend=True)
    )
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    redis = Redis.from_url(redis_url)
    try:
        summary = await sweep_once(pool, redis, Metrics(), auto, FIXED_NOW + timedelta(hours=49))
    finally:
        await pool.close()
        await redis.aclose()
    assert (summary.overdue, summary.resuspended) == (0, 1)
    assert await conn.fetchval("SELECT status FROM work_orders WHERE id = $1", order_id) == "resuspended"
