"""POST /v1/reactivations against real PostgreSQL and Redis: every R rule as a named case,
identity and lockout, exactly-once under races, replays, audit, and the cache protocol."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from redis.asyncio import Redis

from entitlements.policy import load_policy
from gateway.http.app import create_app
from gateway.services import cache
from gateway.services.identity import hash_password
from gateway.settings import Settings
from gateway.stores.queries import snapshot
from gateway.stores.record import key_of
from tests.gateway import grants
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens

POLICY = load_policy("unicom-2015")
TODAY = date(2026, 11, 26)


async def prior_grant(
    conn: asyncpg.Connection,
    msisdn: str,
    month: date,
    *,
    mode: str = "postpaid_48h",
    order_status: str | None = None,
    seq: int = 1,
) -> None:
    """A reactivation granted earlier (and its work order in `order_status`)."""
    granted = datetime(month.year, month.month, 3, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    rid = await conn.fetchval(
        """INSERT INTO reactivations (msisdn, grant_month, seq, mode, scheme, level, channel, actor,
               granted_at, expires_at, credit_limit_fen)
           VALUES ($1, $2, $3, $4, 'vip_card', 'gold', 'agent', 'test', $5, $6, $7) RETURNING id""",
        msisdn,
        month,
        seq,
        mode,
        granted,
        granted + timedelta(hours=48),
        10000 if mode == "prepaid_credit" else None,
    )
    if order_status is not None:
        await conn.execute(
            """INSERT INTO work_orders (reactivation_id, msisdn, city_code, status, due_at, created_at, updated_at)
               VALUES ($1, $2, 'HA-ZZ', $3, $4, $5, $5)""",
            rid,
            msisdn,
            order_status,
            granted + timedelta(hours=48),
            granted,
        )


Setup = Callable[[asyncpg.Connection], Awaitable[None]]


async def gold_postpaid(conn: asyncpg.Connection) -> None:
    await grants.customer(conn)


async def diamond_prepaid(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, level="diamond", payment_mode="prepaid")


async def three_star_prepaid(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, level="three_star", payment_mode="prepaid")


async def five_star_postpaid(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, level="five_star")


async def two_star(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, level="two_star")


async def unrated(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, level="none")


async def silver_active(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, level="silver", status="active")


async def gold_granted_this_month(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, payment_mode="prepaid")
    await prior_grant(conn, GOLD, date(2026, 11, 1), mode="prepaid_credit")


async def gold_two_months_behind(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, unpaid_months=2)


async def gold_unpaid_after_last_grant(conn: asyncpg.Connection) -> None:
    await grants.customer(conn)
    await prior_grant(conn, GOLD, date(2026, 10, 1), order_status="resuspended")


async def gold_paid_after_last_grant(conn: asyncpg.Connection) -> None:
    await grants.customer(conn)
    await prior_grant(conn, GOLD, date(2026, 10, 1), order_status="paid")


async def gold_cancelled(conn: asyncpg.Connection) -> None:
    await grants.customer(conn, status="cancelled")


async def nobody(conn: asyncpg.Connection) -> None:
    return None


DECISIONS = [
    # rule R1, rule R6, rule R10
    pytest.param(
        gold_postpaid,
        201,
        None,
        "postpaid_48h",
        id="a suspended postpaid gold card holder gets 48 hours and a work order",
    ),
    # rule R4
    pytest.param(
        diamond_prepaid,
        201,
        None,
        "prepaid_credit",
        id="a suspended prepaid diamond gets 300 yuan for 5 days",
    ),
    # rule R4, rule R1
    pytest.param(
        three_star_prepaid,
        201,
        None,
        "prepaid_credit",
        id="a prepaid three-star gets the silver terms, 50 yuan for 2 days",
    ),
    # rule R1
    pytest.param(
        five_star_postpaid, 201, None, "postpaid_48h", id="a five-star customer is entitled under T1"
    ),
    # rule R1
    pytest.param(two_star, 409, "not_entitled", None, id="a two-star customer has no emergency reactivation"),
    # rule R1
    pytest.param(
        unrated, 409, "not_entitled", None, id="a customer without a level has no emergency reactivation"
    ),
    # rule R2
    pytest.param(
        silver_active, 409, "not_suspended", None, id="an active silver customer is not reactivated"
    ),
    # rule R3
    pytest.param(
        gold_granted_this_month,
        409,
        "monthly_limit",
        None,
        id="a second reactivation in the same month is refused",
    ),
    # rule R7
    pytest.param(
        gold_two_months_behind,
        409,
        "arrears_too_long",
        None,
        id="postpaid gold two months in arrears gets no reactivation",
    ),
    # rule R8
    pytest.param(
        gold_unpaid_after_last_grant,
        409,
        "previous_unpaid",
        None,
        id="postpaid gold still unpaid after last month's reactivation is refused",
    ),
    # rule R8, rule R3
    pytest.param(
        gold_paid_after_last_grant,
        201,
        None,
        "postpaid_48h",
        id="postpaid gold who paid after last month's reactivation may have one this month",
    ),
    # rule T1.10
    pytest.param(gold_cancelled, 409, "cancelled", None, id="a cancelled number is refused"),
    pytest.param(nobody, 404, "unknown_subscriber", None, id="an unknown number is a 404 unknown_subscriber"),
]


@pytest.mark.parametrize(("setup", "status", "code", "mode"), DECISIONS)
async def test_decisions(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    setup: Setup,
    status: int,
    code: str | None,
    mode: str | None,
) -> None:
    await setup(conn)
    client = await aiohttp_client(create_app(settings))
    got, body = await grants.reactivate(client, tokens.agent, "k-1")
    assert got == status, body
    if code is not None:
        assert body["code"] == code
        assert body["status"] == status and body["title"] and body["type"].endswith(code)
        assert body["detail_zh"] and body["detail_en"] and body["detail"]
        return
    assert body["mode"] == mode and body["msisdn"] == GOLD
    row = await grants.row(conn, "SELECT * FROM reactivations WHERE id = $1", body["id"])
    assert row["grant_month"] == date(2026, 11, 1)
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD) == "active"
    expires = datetime.fromisoformat(body["expires_at"])
    granted = datetime.fromisoformat(body["granted_at"])
    if mode == "postpaid_48h":
        assert expires - granted == timedelta(hours=48)  # rule R6
        assert "credit_limit_yuan" not in body
        order = await grants.row(conn, "SELECT * FROM work_orders WHERE id = $1", body["work_order_id"])
        assert order["city_code"] == "HA-ZZ" and order["status"] == "new"  # rule W1
        assert order["reactivation_id"] == body["id"]
        events = await conn.fetch(
            "SELECT kind, to_status FROM work_order_events WHERE order_id = $1", order["id"]
        )
        assert [(e["kind"], e["to_status"]) for e in events] == [("created", "new")]
    else:
        assert "work_order_id" not in body
        limit, days = ("300.00", 5) if setup is diamond_prepaid else ("50.00", 2)
        assert body["credit_limit_yuan"] == limit and expires - granted == timedelta(days=days)
        assert row["credit_limit_fen"] == int(limit.replace(".", ""))


async def test_every_decision_is_audited_with_a_masked_number(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R11
    await grants.customer(conn)
    await grants.customer(conn, OTHER, level="two_star")
    client = await aiohttp_client(create_app(settings))
    assert (await grants.reactivate(client, tokens.agent, "a"))[0] == 201
    assert (await grants.reactivate(client, tokens.ivr, "b", grants.reactivation_body(OTHER, channel="ivr")))[
        0
    ] == 409
    rows = await conn.fetch("SELECT * FROM audit_log WHERE action = 'reactivation' ORDER BY id")
    assert [(r["outcome"], r["code"], r["role"], r["channel"]) for r in rows] == [
        ("granted", None, "agent", "agent"),
        ("refused", "not_entitled", "ivr", "ivr"),
    ]
    assert rows[0]["msisdn_mask"] == "186****6001" and rows[0]["msisdn_hash"]
    assert (
        rows[0]["detail"]["verification"] == "own_number" and rows[0]["detail"]["call"] == "matched"
    )  # rule H1
    assert rows[0]["actor"].startswith("agent:")
    dumped = " ".join(str(dict(r)) for r in rows)
    assert GOLD not in dumped and OTHER not in dumped


# --- R9: identity ----------------------------------------------------------------------


async def test_service_password_verifies_identity(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R9
    await grants.customer(conn, password_hash=hash_password("246810"))
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(
        client, tokens.agent, "w1", grants.reactivation_body(method="service_password", password="000000")
    )
    assert status == 409 and body["code"] == "identity_not_verified"
    assert body["remaining_attempts"] == 4 and body["locked_until"] is None
    assert await conn.fetchval("SELECT failures FROM password_failures WHERE msisdn = $1", GOLD) == 1
    status, body = await grants.reactivate(
        client, tokens.agent, "w2", grants.reactivation_body(method="service_password", password="246810")
    )
    assert status == 201, body
    assert await conn.fetchval("SELECT count(*) FROM password_failures WHERE msisdn = $1", GOLD) == 0
    audit = await conn.fetch("SELECT code, detail FROM audit_log ORDER BY id")
    assert [a["detail"]["result"] for a in audit] == ["wrong", "ok"]


async def test_five_wrong_passwords_lock_verification(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R9: 5 tries, then locked for 30 minutes — even the right password is refused
    await grants.customer(conn, password_hash=hash_password("246810"))
    client = await aiohttp_client(create_app(settings))
    remaining = []
    for attempt in range(5):
        status, body = await grants.reactivate(
            client,
            tokens.ivr,
            f"w{attempt}",
            grants.reactivation_body(channel="ivr", method="service_password", password="1"),
        )
        assert status == 409 and body["code"] == "identity_not_verified"
        remaining.append(body["remaining_attempts"])
    assert remaining == [4, 3, 2, 1, 0]
    locked_until = datetime.fromisoformat(body["locked_until"])
    assert locked_until == settings.clock() + timedelta(minutes=30)
    status, body = await grants.reactivate(
        client,
        tokens.ivr,
        "right",
        grants.reactivation_body(channel="ivr", method="service_password", password="246810"),
    )
    assert status == 409 and body["code"] == "identity_not_verified" and body["locked_until"]
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 0

    later = dataclasses.replace(settings, now=settings.clock() + timedelta(minutes=31))
    client = await aiohttp_client(create_app(later))
    status, body = await grants.reactivate(
        client,
        tokens.ivr,
        "later",
        grants.reactivation_body(channel="ivr", method="service_password", password="246810"),
    )
    assert status == 201, body


async def test_no_password_set_is_not_verified(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R9
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(
        client, tokens.agent, "x", grants.reactivation_body(method="service_password", password="123456")
    )
    assert status == 409 and body["code"] == "identity_not_verified"
    assert await conn.fetchval("SELECT count(*) FROM password_failures") == 0


# --- R12: per-tier counts are policy data ---------------------------------------------


async def test_a_province_may_allow_two_grants_a_month(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule R12
    override = tmp_path / "province.toml"
    override.write_text("[reactivation.terms.gold]\nper_month = 2\n")
    await grants.customer(conn, payment_mode="prepaid")
    client = await aiohttp_client(create_app(dataclasses.replace(settings, policy_override=override)))
    assert (await grants.reactivate(client, tokens.agent, "1"))[0] == 201
    await conn.execute("UPDATE subscribers SET status = 'suspended' WHERE msisdn = $1", GOLD)
    status, body = await grants.reactivate(client, tokens.agent, "2")
    assert status == 201, body
    await conn.execute("UPDATE subscribers SET status = 'suspended' WHERE msisdn = $1", GOLD)
    status, body = await grants.reactivate(client, tokens.agent, "3")
    assert status == 409 and body["code"] == "monthly_limit"
    seqs = await conn.fetch("SELECT seq FROM reactivations ORDER BY seq")
    assert [r["seq"] for r in seqs] == [1, 2]


async def test_a_grant_colliding_with_the_unique_constraint_is_monthly_limit(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule R3: the database constraint, not only the count, holds the line
    override = tmp_path / "province.toml"
    override.write_text("[reactivation.terms.gold]\nper_month = 2\n")
    await grants.customer(conn, payment_mode="prepaid")
    await prior_grant(conn, GOLD, date(2026, 11, 1), mode="prepaid_credit", seq=2)  # seq 2 taken, count is 1
    client = await aiohttp_client(create_app(dataclasses.replace(settings, policy_override=override)))
    status, body = await grants.reactivate(client, tokens.agent, "k")
    assert status == 409 and body["code"] == "monthly_limit", body
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1
    assert await conn.fetchval("SELECT status FROM subscribers") == "suspended"
    assert await conn.fetchval("SELECT code FROM audit_log") == "monthly_limit"


# --- exactly once ----------------------------------------------------------------------


async def test_a_hundred_concurrent_requests_grant_once(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R3, rule R10
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    results = await asyncio.gather(
        *(grants.reactivate(client, tokens.agent, f"race-{i}") for i in range(100))
    )
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1 and statuses.count(409) == 99
    refusals = {b["code"] for s, b in results if s == 409}
    assert refusals <= {"not_suspended", "monthly_limit"}
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1
    assert await conn.fetchval("SELECT count(*) FROM work_orders") == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'reactivation'") == 100


async def test_concurrent_requests_with_one_key_act_once_and_replay(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    results = await asyncio.gather(*(grants.reactivate(client, tokens.agent, "same") for _ in range(20)))
    assert {s for s, _ in results} == {201}
    assert len({str(b) for _, b in results}) == 1
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1


async def test_a_replay_returns_the_first_answer_unchanged(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)
    await grants.customer(conn, OTHER, level="two_star")
    client = await aiohttp_client(create_app(settings))
    first = await grants.reactivate(client, tokens.agent, "key-1")
    response = await client.post(
        "/v1/reactivations",
        json=grants.reactivation_body(),
        headers={**grants.bearer(tokens.agent), "Idempotency-Key": "key-1"},
    )
    assert response.status == 201 and await response.json() == first[1]
    assert response.headers["Idempotent-Replayed"] == "true"
    refused = await grants.reactivate(client, tokens.agent, "key-2", grants.reactivation_body(OTHER))
    assert refused[0] == 409
    response = await client.post(
        "/v1/reactivations",
        json=grants.reactivation_body(OTHER),
        headers={**grants.bearer(tokens.agent), "Idempotency-Key": "key-2"},
    )
    assert response.status == 409 and response.content_type == "application/problem+json"
    assert await response.json() == refused[1]
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 2


async def test_the_same_key_with_another_body_is_rejected(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    assert (await grants.reactivate(client, tokens.agent, "k"))[0] == 201
    status, body = await grants.reactivate(client, tokens.agent, "k", grants.reactivation_body(channel="ivr"))
    assert status == 409 and body["code"] == "invalid_request"


BAD_REQUESTS = [
    pytest.param(None, grants.reactivation_body(), 400, "invalid_request", id="no Idempotency-Key header"),
    pytest.param(
        "k",
        {"msisdn": "1861234", "channel": "agent", "verification": {"method": "own_number"}},
        400,
        "invalid_number",
        id="a malformed number",
    ),
    pytest.param(
        "k", {**grants.reactivation_body(), "channel": "sms"}, 400, "invalid_request", id="an unknown channel"
    ),
    pytest.param(
        "k",
        {**grants.reactivation_body(), "verification": {"method": "face"}},
        400,
        "invalid_request",
        id="an unknown verification method",
    ),
    pytest.param(
        "k",
        grants.reactivation_body(method="service_password"),
        400,
        "invalid_request",
        id="service_password without a password",
    ),
    pytest.param("k", [], 400, "invalid_request", id="a body that is not an object"),
]


@pytest.mark.parametrize(("idem", "body", "status", "code"), BAD_REQUESTS)
async def test_bad_requests(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens,
    idem: str | None, body: Any, status: int, code: str,
) -> None:  # fmt: skip
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    headers = {**grants.bearer(tokens.agent), **({"Idempotency-Key": idem} if idem else {})}
    response = await client.post("/v1/reactivations", json=body, headers=headers)
    assert response.status == status and response.content_type == "application/problem+json"
    assert (await response.json())["code"] == code
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 0


async def test_only_agents_and_the_ivr_reactivate(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    assert (await grants.reactivate(client, tokens.zz_city, "k"))[0] == 403
    response = await client.post(
        "/v1/reactivations", json=grants.reactivation_body(), headers={"Idempotency-Key": "k"}
    )
    assert response.status == 401
    assert (await grants.reactivate(client, tokens.admin, "k"))[0] == 201


# --- the cache follows; a crash between commit and cache write is corrected ------------


async def test_the_cache_record_follows_a_grant(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    await grants.customer(conn)
    redis = Redis.from_url(redis_url)
    await cache.refresh(conn, redis, [GOLD], POLICY, TODAY)
    before = await grants.cached(redis_url, GOLD)
    assert before is not None and before.status == "suspended"
    client = await aiohttp_client(create_app(settings))
    assert (await grants.reactivate(client, tokens.agent, "k"))[0] == 201
    after = await grants.cached(redis_url, GOLD)
    assert (
        after is not None
        and after.status == "active"
        and after.unpaid_grant
        and after.grants_in_last_month == 1
    )
    await redis.aclose()


async def test_a_cache_write_that_fails_after_commit_leaves_a_miss_the_next_read_corrects(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    await grants.customer(conn)
    admin = Redis.from_url(redis_url)
    await cache.refresh(conn, admin, [GOLD], POLICY, TODAY)
    # A Redis user that may delete but not write: the eviction before the commit works, the
    # rewrite after it fails — exactly a process dying between its commit and its cache write.
    await admin.execute_command(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        "ACL", "SETUSER", "nowrite", "on", ">pw", "~*", "+@all", "-set", "-mset", "-hset"
    )
    try:
        url = redis_url.replace("unix://", "unix://nowrite:pw@")
        client = await aiohttp_client(create_app(dataclasses.replace(settings, redis_url=url)))
        status, body = await grants.reactivate(client, tokens.agent, "k")
        assert status == 201, body
        assert await admin.hexists(*key_of(GOLD)) is False  # evicted before the commit, not rewritten
        metrics = await (await client.get("/metrics")).text()
        assert 'callgate_store_errors_total{kind="refresh",store="redis"} 1.0' in metrics
        fresh = await snapshot.load_one(conn, GOLD, TODAY)
        assert fresh is not None
        record = cache.record_for(fresh, POLICY, TODAY)
        assert record is not None and record.status == "active" and record.grants_in_last_month == 1
    finally:
        await admin.execute_command("ACL", "DELUSER", "nowrite")  # type: ignore[no-untyped-call]  # as above
        await admin.aclose()


async def test_redis_down_never_fails_a_write(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # The database is the system of record: the grant and the payment stand; the failed
    # evictions are counted, and a later read goes to PostgreSQL.
    await grants.customer(conn)
    dead = dataclasses.replace(settings, redis_url=f"unix://{tmp_path}/no-redis.sock")
    client = await aiohttp_client(create_app(dead))
    status, body = await grants.reactivate(client, tokens.agent, "k")
    assert status == 201, body
    status, body = await grants.call(
        client, "POST", "/v1/payments", tokens.admin, {"msisdn": GOLD, "amount_yuan": 100}
    )
    assert status == 201 and body["work_orders"][0]["status"] == "paid"
    metrics = await (await client.get("/metrics")).text()
    assert 'callgate_store_errors_total{kind="evict",store="redis"}' in metrics
    assert 'callgate_store_errors_total{kind="refresh",store="redis"}' in metrics
