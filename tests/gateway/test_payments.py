"""POST /v1/payments and POST /v1/subscribers/{msisdn}/status: arrears settle oldest bill
first, clearing them lifts the suspension and resolves the work order (W4), cancellation
ends the level at once (T1.10, T2.7), and the cache follows at once."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from entitlements.policy import load_policy
from gateway.http.app import create_app
from gateway.services import cache
from gateway.settings import Settings
from gateway.stores.record import Record
from tests.gateway import grants
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens

POLICY = load_policy("unicom-2015")
TODAY = date(2026, 11, 26)


async def pay(
    client: TestClient[Any, Any], token: str, amount: object, msisdn: str = GOLD, **extra: object
) -> tuple[int, dict[str, Any]]:
    return await grants.call(
        client, "POST", "/v1/payments", token, {"msisdn": msisdn, "amount_yuan": amount, **extra}
    )


async def record(redis_url: str, msisdn: str = GOLD) -> Record | None:
    return await grants.cached(redis_url, msisdn)


async def test_a_partial_payment_settles_the_oldest_bill_first(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R7: arrears months are the bill months not fully paid, oldest settled first
    await grants.customer(conn, unpaid_months=3)  # 2026-08, -09, -10 unpaid: 300 yuan
    client = await aiohttp_client(create_app(settings))
    status, body = await pay(client, tokens.admin, "150.00")
    assert status == 201
    assert (body["outstanding_yuan"], body["arrears_months"], body["status"]) == ("150.00", 2, "suspended")
    assert body["suspension_lifted"] is False
    status, body = await pay(client, tokens.admin, "50", paid_at="2026-11-26T11:00:00+08:00")
    assert (body["outstanding_yuan"], body["arrears_months"]) == ("100.00", 1)


async def test_clearing_the_arrears_lifts_the_suspension_and_resolves_the_order(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    # rule W4: paid → order paid, arrears cleared; rule R8: the next reactivation is no longer blocked
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    status, grant = await grants.reactivate(client, tokens.agent, "k")
    assert status == 201
    after_grant = await record(redis_url)
    assert after_grant is not None and after_grant.unpaid_grant
    await conn.execute("UPDATE subscribers SET status = 'suspended' WHERE msisdn = $1", GOLD)
    status, body = await pay(client, tokens.admin, 100)
    assert status == 201, body
    assert body["status"] == "active" and body["suspension_lifted"] is True
    assert body["outstanding_yuan"] == "0.00" and body["arrears_months"] == 0
    assert body["work_orders"] == [{"id": grant["work_order_id"], "status": "paid"}]
    events = await conn.fetch(
        "SELECT kind, from_status, to_status, actor, note FROM work_order_events ORDER BY id"
    )
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "new"),
        ("paid", "new", "paid"),
    ]
    assert events[1]["actor"].startswith("admin:") and "W4" in events[1]["note"]
    cached = await record(redis_url)  # the cache followed at once
    assert cached is not None and cached.status == "active" and not cached.unpaid_grant
    assert cached.arrears_months == 0
    audit = await grants.row(conn, "SELECT * FROM audit_log WHERE action = 'payment'")
    assert audit["outcome"] == "recorded" and audit["msisdn_mask"] == "186****6001"


async def test_a_resuspended_order_is_closed_when_the_customer_pays(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule W4, rule W6
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    _, grant = await grants.reactivate(client, tokens.agent, "k")
    await conn.execute("UPDATE work_orders SET status = 'resuspended'")
    await conn.execute("UPDATE subscribers SET status = 'suspended'")
    _, body = await pay(client, tokens.admin, 100)
    assert body["work_orders"] == [{"id": grant["work_order_id"], "status": "closed"}]
    assert body["status"] == "active"


async def test_the_same_payment_twice_is_recorded_once(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn, unpaid_months=2)
    client = await aiohttp_client(create_app(settings))
    first = await pay(client, tokens.admin, 100, paid_at="2026-11-26T09:00:00+08:00")
    again = await pay(client, tokens.admin, "100.00", paid_at="2026-11-26T01:00:00Z")
    assert first[0] == 201 and again[0] == 200 and again[1]["duplicate"] is True
    assert again[1]["id"] == first[1]["id"] and again[1]["outstanding_yuan"] == "100.00"
    assert await conn.fetchval("SELECT count(*) FROM payments") == 1


PAYMENT_ERRORS = [
    pytest.param({"msisdn": GOLD, "amount_yuan": 0}, 400, "invalid_request", id="a zero payment"),
    pytest.param({"msisdn": GOLD, "amount_yuan": "1.001"}, 400, "invalid_request", id="three decimals"),
    pytest.param(
        {"msisdn": GOLD, "amount_yuan": 1, "paid_at": "2026-11-26 09:00"},
        400,
        "invalid_request",
        id="a time without offset",
    ),
    pytest.param({"msisdn": "abc", "amount_yuan": 1}, 400, "invalid_number", id="a malformed number"),
    pytest.param({"msisdn": OTHER, "amount_yuan": 1}, 404, "unknown_subscriber", id="an unknown number"),
]


@pytest.mark.parametrize(("body", "status", "code"), PAYMENT_ERRORS)
async def test_payment_errors(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens,
    body: dict[str, object], status: int, code: str,
) -> None:  # fmt: skip
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    got, problem = await grants.call(client, "POST", "/v1/payments", tokens.admin, body)
    assert (got, problem["code"]) == (status, code)


async def test_only_admins_record_payments_and_status(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    for token in (tokens.agent, tokens.ivr, tokens.zz_city):
        assert (await pay(client, token, 1))[0] == 403
        assert (
            await grants.call(client, "POST", f"/v1/subscribers/{GOLD}/status", token, {"status": "active"})
        )[0] == 403


# --- status events ---------------------------------------------------------------------


async def test_cancellation_ends_the_level_at_once_and_removes_the_cache_record(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    # rule T1.10, rule T2.7: cancellation ends the level (and the card) at once
    await grants.customer(conn, level="four_star")
    await grants.card(conn, GOLD, "gold")
    # a pending level from this month's evaluation, effective next month: voided too
    await grants.star(conn, GOLD, "five_star", evaluated=date(2026, 11, 1), effective_from=date(2026, 12, 1),
                      valid_until=date(2027, 11, 30))  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    status, grant = await grants.reactivate(client, tokens.agent, "k")
    assert status == 201
    assert await record(redis_url) is not None
    status, body = await grants.call(
        client,
        "POST",
        f"/v1/subscribers/{GOLD}/status",
        tokens.admin,
        {"status": "cancelled", "note": "销户"},
    )
    assert status == 200, body
    assert body == {
        "msisdn": GOLD, "status": "cancelled", "previous": "active", "changed": True, "levels_ended": 3,
        "work_orders": [grant["work_order_id"]],
    }  # fmt: skip
    rows = await conn.fetch(
        "SELECT level, effective_from, valid_until FROM tier_assignments ORDER BY effective_from"
    )
    assert [(r["level"], r["valid_until"]) for r in rows] == [
        ("gold", date(2026, 11, 25)),
        ("four_star", date(2026, 11, 25)),
        ("five_star", date(2026, 11, 30)),  # ended the day before it would have started
    ]
    assert await record(redis_url) is None  # rule T1.10: no record is kept for a cancelled number
    order = await grants.row(conn, "SELECT status FROM work_orders")
    assert order["status"] == "closed"
    status, body = await grants.reactivate(client, tokens.agent, "k2")
    assert status == 409 and body["code"] == "cancelled"
    status, body = await grants.call(
        client, "POST", f"/v1/subscribers/{GOLD}/status", tokens.admin, {"status": "active"}
    )
    assert status == 409 and body["code"] == "cancelled"
    view = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    assert view[1]["tier"]["level"] == "unrated"


async def test_a_suspension_reaches_the_cache_at_once(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    await grants.customer(conn, status="active", unpaid_months=0)
    redis = Redis.from_url(redis_url)
    await cache.refresh(conn, redis, [GOLD], POLICY, TODAY)
    await redis.aclose()
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.call(
        client, "POST", f"/v1/subscribers/{GOLD}/status", tokens.admin, {"status": "suspended"}
    )
    assert status == 200 and body["changed"] is True
    cached = await record(redis_url)
    assert cached is not None and cached.status == "suspended"
    status, body = await grants.call(
        client, "POST", f"/v1/subscribers/{GOLD}/status", tokens.admin, {"status": "suspended"}
    )
    assert status == 200 and body["changed"] is False
    status, body = await grants.call(
        client, "POST", f"/v1/subscribers/{GOLD}/status", tokens.admin, {"status": "frozen"}
    )
    assert status == 400 and body["code"] == "invalid_request"
    audit = await conn.fetch("SELECT outcome, detail FROM audit_log WHERE action = 'status' ORDER BY id")
    assert [a["outcome"] for a in audit] == ["changed", "unchanged"]
