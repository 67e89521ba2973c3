"""Loyalty points against real PostgreSQL and Redis: the import (P1, P2), the lookup's
points after every write path (P3), expiry at midnight Asia/Shanghai, FIFO spending and
redemption with its refusals, replays and a race of a hundred (P5)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from gateway.batch.importer import ImportRejected
from gateway.http.app import create_app
from gateway.services import cache
from gateway.services.identity import hash_password
from gateway.services.tokens import create_token
from gateway.settings import Settings
from gateway.stores.queries import snapshot
from gateway.stores.record import BASE_SIZE, Record, key_of
from tests.gateway import grants, province
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens, bearer
from tests.gateway.points_support import (
    POLICY,
    cached_lookup,
    db_points,
    import_points,
    lookup,
    redeem,
    redemption_body,
)

TODAY = date(2026, 11, 26)


async def test_the_threshold_edge_then_a_redemption_leaves_500_redeemable(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P2: 1,999 → nothing redeemable; 2,000 once (the day recorded); 500 left after a
    # redemption → all 500 redeemable. rule P3: after every write path the lookup's points,
    # from the cache, equal a fresh PostgreSQL read.
    await grants.customer(conn, status="active")
    client = await aiohttp_client(create_app(settings))

    async def lookup_matches_database(expected: dict[str, int]) -> None:
        body = await cached_lookup(client, tokens.ivr, GOLD)
        assert body["points"] == expected == await db_points(conn, GOLD, TODAY)

    assert (await lookup(client, tokens.ivr, GOLD))["points"] is None  # no ledger yet

    first = await import_points(
        conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-03-01,1999,bill,"], TODAY
    )
    assert (first.result.inserted, first.reached) == (1, 0)
    await lookup_matches_database({"balance": 1999, "redeemable": 0, "expiring_next_month": 0})
    assert await conn.fetchval("SELECT threshold_reached_on FROM points_accounts") is None

    second = await import_points(
        conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-04-01,1,bill,"], TODAY, name="april.csv"
    )
    assert second.reached == 1
    assert await conn.fetchval("SELECT threshold_reached_on FROM points_accounts") == date(2026, 4, 1)
    await lookup_matches_database({"balance": 2000, "redeemable": 2000, "expiring_next_month": 0})

    await import_points(
        conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-05-01,1500,promo,"], TODAY, name="may.csv"
    )
    call = await lookup(client, tokens.ivr, GOLD, call_id="call-p2")
    status, body = await redeem(client, tokens.agent, GOLD, "p2-1", redemption_body(call_id="call-p2"))
    assert status == 201, body
    assert (body["item"], body["points"], body["balance"], body["redeemable"]) == ("topup_30", 3000, 500, 500)
    assert call["points"]["balance"] == 3500
    await lookup_matches_database({"balance": 500, "redeemable": 500, "expiring_next_month": 0})
    # the threshold stays reached: the agent reads when, and why 500 points are redeemable
    status, view = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    assert status == 200
    assert view["points"]["threshold_reached_on"] == "2026-04-01"
    assert "2026年4月1日" in view["points"]["threshold_text_zh"]
    assert view["points"]["redeemable"] == 500 and view["points"]["redemptions"][0]["item"] == "topup_30"


def grants_redis(settings: Settings) -> str:
    assert settings.redis_url is not None
    return settings.redis_url


async def test_a_reimported_file_adds_nothing_and_an_evaluation_keeps_the_points(
    settings: Settings, conn: asyncpg.Connection, tmp_path: Path, database_url: str
) -> None:
    # rule P1: grants are deduplicated like payments; rule P3: every record writer carries the points
    await province.branches(conn)
    await grants.customer(conn, status="active")
    rows = [f"{GOLD},2026-01-10,1200,bill,2027-12-31", f"{GOLD},2026-02-10,900,bill,"]
    once = await import_points(conn, grants_redis(settings), tmp_path, rows, TODAY)
    again = await import_points(conn, grants_redis(settings), tmp_path, rows, TODAY)
    assert (once.result.inserted, again.result.inserted, again.result.updated) == (2, 0, 2)
    assert await conn.fetchval("SELECT sum(remaining) FROM points_grants") == 2100
    # a full cache rebuild (and the evaluation's refresh, built the same way) keeps the points
    redis = Redis.from_url(grants_redis(settings))
    try:
        await redis.flushall()
        await cache.rebuild(conn, redis, POLICY, TODAY, show_progress=False)
        raw = await redis.hget(*key_of(GOLD))
    finally:
        await redis.aclose()
    assert isinstance(raw, bytes) and len(raw) > BASE_SIZE
    record = Record.decode(raw)
    assert record is not None and record.points is not None
    assert (record.points.balance, record.points.reached) == (2100, True)


async def test_expiry_at_midnight_asia_shanghai(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P1: points expiring on 2026-12-31 count through that day and are gone at 00:00
    # Asia/Shanghai (16:00 UTC); rule P3: the record written in November answers on any day
    # of November and December right, and is read afresh when it can no longer be.
    await grants.customer(conn, status="active")
    await import_points(
        conn, grants_redis(settings), tmp_path,
        [f"{GOLD},2026-01-05,2500,bill,2026-12-31", f"{GOLD},2026-06-05,600,bill,"], TODAY,
    )  # fmt: skip

    async def points_at(instant: str) -> tuple[str, dict[str, int]]:
        at = datetime.fromisoformat(instant)
        client = await aiohttp_client(create_app(dataclasses.replace(settings, now=at)))
        body = await cached_lookup(client, tokens.ivr, GOLD)
        today = date.fromisoformat(instant[:10]) if instant.endswith("+08:00") else None
        assert today is not None
        assert body["points"] == await db_points(conn, GOLD, today)
        return body["source"], body["points"]

    # written on the 26th, right on the 30th without a write: 2,500 expire next month
    assert await points_at("2026-11-30T09:00:00+08:00") == (
        "cache", {"balance": 3100, "redeemable": 3100, "expiring_next_month": 2500},
    )  # fmt: skip
    assert await points_at("2026-12-31T23:59:59+08:00") == (
        "cache", {"balance": 3100, "redeemable": 3100, "expiring_next_month": 0},
    )  # fmt: skip
    assert await points_at("2027-01-01T00:00:00+08:00") == (
        "cache", {"balance": 600, "redeemable": 600, "expiring_next_month": 0},
    )  # fmt: skip
    # a spend at 23:59:59 on the 31st can still use them; at midnight they are gone
    last_second = await aiohttp_client(
        create_app(dataclasses.replace(settings, now=datetime.fromisoformat("2026-12-31T23:59:59+08:00")))
    )
    await lookup(last_second, tokens.ivr, GOLD, call_id="call-eve")
    status, body = await redeem(last_second, tokens.agent, GOLD, "eve", redemption_body(call_id="call-eve"))
    assert (status, body["balance"]) == (201, 100)
    assert await conn.fetchval("SELECT remaining FROM points_grants WHERE expires_on IS NOT NULL") == 0


async def test_spending_takes_the_grants_that_expire_first_then_the_oldest(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P1 and rule P5: a 3,000-point redemption over four grants
    await grants.customer(conn, status="active")
    await import_points(
        conn, grants_redis(settings), tmp_path,
        [
            f"{GOLD},2025-12-01,1000,bill,2027-12-31",  # A
            f"{GOLD},2026-06-01,1000,bill,2026-12-31",  # B
            f"{GOLD},2025-01-01,1500,bill,",  # C: never expires
            f"{GOLD},2026-01-01,500,promo,2026-12-31",  # D: same expiry as B, older
            f"{GOLD},2024-01-01,9000,bill,2025-12-31",  # expired: never spent
        ],
        TODAY,
    )  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, GOLD, call_id="call-fifo")
    status, body = await redeem(client, tokens.agent, GOLD, "fifo", redemption_body(call_id="call-fifo"))
    assert (status, body["balance"]) == (201, 1000)
    left = {
        (r["granted_on"].isoformat(), r["points"]): r["remaining"]
        for r in await conn.fetch("SELECT granted_on, points, remaining FROM points_grants")
    }
    assert left == {
        ("2026-01-01", 500): 0, ("2026-06-01", 1000): 0, ("2025-12-01", 1000): 0,
        ("2025-01-01", 1500): 1000, ("2024-01-01", 9000): 9000,
    }  # fmt: skip
    spent = await conn.fetch(
        "SELECT g.granted_on, s.points FROM points_spends s JOIN points_grants g ON g.id = s.grant_id"
    )
    assert sorted((r["granted_on"].isoformat(), r["points"]) for r in spent) == [
        ("2025-01-01", 500), ("2025-12-01", 1000), ("2026-01-01", 500), ("2026-06-01", 1000),
    ]  # fmt: skip


async def test_a_hundred_concurrent_redemptions_never_overspend(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P5: 10,000 points, a hundred 3,000-point redemptions at once → three, never below zero
    await grants.customer(conn, status="active")
    await import_points(
        conn, grants_redis(settings), tmp_path,
        [f"{GOLD},2026-02-01,4000,bill,2026-12-31", f"{GOLD},2026-03-01,6000,bill,"], TODAY,
    )  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, GOLD, call_id="call-race")
    results = await asyncio.gather(
        *(
            redeem(client, tokens.agent, GOLD, f"race-{i}", redemption_body(call_id="call-race"))
            for i in range(100)
        )
    )
    statuses = [s for s, _ in results]
    assert statuses.count(201) == 3 and statuses.count(409) == 97
    assert {b["code"] for s, b in results if s == 409} == {"insufficient_points"}
    assert sorted(b["balance"] for s, b in results if s == 201) == [1000, 4000, 7000]
    assert await conn.fetchval("SELECT sum(remaining) FROM points_grants") == 1000
    assert await conn.fetchval("SELECT min(remaining) FROM points_grants") >= 0
    assert await conn.fetchval("SELECT sum(points) FROM points_spends") == 9000
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'points_redemption'") == 100
    body = await cached_lookup(client, tokens.ivr, GOLD)
    assert body["points"] == await db_points(conn, GOLD, TODAY) == {
        "balance": 1000, "redeemable": 1000, "expiring_next_month": 0,
    }  # fmt: skip


async def test_replays_act_once_and_keys_are_the_callers_own(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P5: Idempotency-Key as for reactivations: a replay returns the first answer, a
    # changed body is refused, another token's same key is another request
    await grants.customer(conn, status="active")
    await import_points(conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-02-01,9000,bill,"], TODAY)
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, GOLD, call_id="call-key")
    body = redemption_body(call_id="call-key")
    first = await redeem(client, tokens.agent, GOLD, "k1", body)
    response = await client.post(
        f"/v1/subscribers/{GOLD}/points/redemptions", json=body,
        headers={**bearer(tokens.agent), "Idempotency-Key": "k1"},
    )  # fmt: skip
    assert response.status == 201 and response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == first[1]
    changed = await redeem(client, tokens.agent, GOLD, "k1", redemption_body("topup_50", call_id="call-key"))
    assert changed[0] == 409 and changed[1]["code"] == "invalid_request"
    other_agent = (await create_token(conn, "agent", name="second agent"))[1]
    status, again = await redeem(client, other_agent, GOLD, "k1", body)
    assert status == 201 and again["id"] != first[1]["id"]
    assert await conn.fetchval("SELECT count(*) FROM points_redemptions") == 2
    assert await conn.fetchval("SELECT sum(remaining) FROM points_grants") == 3000


@pytest.mark.parametrize(
    ("rows", "body", "status", "code"),
    [
        pytest.param(
            [f"{GOLD},2026-02-01,1999,bill,"], redemption_body("topup_30"), 409, "below_threshold",
            id="1,999 points: below the threshold",
        ),
        pytest.param([], redemption_body("topup_30"), 409, "below_threshold", id="no points ledger at all"),
        pytest.param(
            [f"{GOLD},2026-02-01,4999,bill,"], redemption_body("topup_50"), 409, "insufficient_points",
            id="reached, but 4,999 points do not buy a 5,000-point item",
        ),
        pytest.param(
            [f"{GOLD},2026-02-01,99999,bill,"], redemption_body("iphone_15"), 409, "unknown_item",
            id="an item that is not in the catalogue",
        ),
        pytest.param(
            [f"{GOLD},2026-02-01,9000,bill,"],
            redemption_body(method="service_password", password="999999"), 409, "identity_not_verified",
            id="a wrong service password",
        ),
    ],
)  # fmt: skip
async def test_refusals_are_409_with_their_code_and_audited(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
    rows: list[str],
    body: dict[str, object],
    status: int,
    code: str,
) -> None:
    # rule P5 (refusals below_threshold — rule P2 —, insufficient_points, unknown_item) and rule R9
    await grants.customer(conn, status="active", password_hash=hash_password("135790"))
    if rows:
        await import_points(conn, grants_redis(settings), tmp_path, rows, TODAY)
    before = await db_points(conn, GOLD, TODAY)
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, GOLD, call_id="call-refused")  # own number: a call from it (H1)
    got, problem = await redeem(client, tokens.agent, GOLD, "refused", {**body, "call_id": "call-refused"})
    assert (got, problem["code"]) == (status, code)
    assert problem["detail_zh"] and problem["detail_en"]
    assert await db_points(conn, GOLD, TODAY) == before
    audit_row = await grants.row(conn, "SELECT outcome, code, msisdn_mask, detail FROM audit_log")
    assert (audit_row["outcome"], audit_row["code"], audit_row["msisdn_mask"]) == (
        "refused",
        code,
        "186****6001",
    )
    assert GOLD not in str(audit_row["detail"])


async def test_who_may_redeem_and_for_whom(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P5: roles agent and ivr; an unknown number is 404, a cancelled one 409; no key is 400
    await grants.customer(conn, status="active", password_hash=hash_password("135790"))
    await grants.customer(conn, OTHER, status="cancelled")
    await import_points(
        conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-02-01,9000,bill,", f"{OTHER},2026-02-01,9000,bill,"],
        TODAY,
    )  # fmt: skip
    client = await aiohttp_client(create_app(settings))
    by_ivr = redemption_body(channel="ivr", method="service_password", password="135790")
    assert (await redeem(client, tokens.ivr, GOLD, "ivr-1", by_ivr))[0] == 201
    assert (await redeem(client, tokens.zz_city, GOLD, "branch-1", by_ivr))[0] == 403
    assert (await redeem(client, tokens.agent, "18699990000", "nobody", by_ivr))[1][
        "code"
    ] == "unknown_subscriber"
    assert (await redeem(client, tokens.agent, OTHER, "gone", by_ivr))[1]["code"] == "cancelled"
    response = await client.post(
        f"/v1/subscribers/{GOLD}/points/redemptions", json=by_ivr, headers=bearer(tokens.agent)
    )
    assert response.status == 400 and (await response.json())["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param(f"{GOLD},2026-02-01,0,bill,", "points must be positive", id="zero points"),
        pytest.param(f"{GOLD},2026-02-01,-50,bill,", "points must be positive", id="negative points"),
        pytest.param(f"{GOLD},2026-02-01,12.5,bill,", "not a whole number", id="fractional points"),
        pytest.param(
            f"{GOLD},2026-02-01,100,bill,2026-01-31", "expires_on 2026-01-31 is before granted_on",
            id="expiry before the grant",
        ),
        pytest.param(f"{GOLD},2026-12-01,100,bill,", "in the future", id="a grant after today"),
        pytest.param(f"{GOLD},2026-02-01,100,,", "source is required", id="no source"),
        pytest.param("18699990000,2026-02-01,100,bill,", "unknown subscriber 186****0000", id="unknown number"),
        pytest.param("12345,2026-02-01,100,bill,", "not a valid Chinese phone number", id="not a number"),
    ],
)  # fmt: skip
async def test_a_bad_points_row_rejects_the_file_with_its_row_and_reason(
    settings: Settings, conn: asyncpg.Connection, tmp_path: Path, row: str, reason: str
) -> None:
    # rule P1: validated like the other imports; nothing is loaded, the cache is untouched
    await province.branches(conn)
    await grants.customer(conn, status="active")
    good = f"{GOLD},2026-01-01,100,bill,"
    with pytest.raises(ImportRejected) as caught:
        await import_points(conn, grants_redis(settings), tmp_path, [good, row], TODAY)
    assert caught.value.errors[0].row == 3
    assert reason in caught.value.errors[0].reason
    assert await conn.fetchval("SELECT count(*) FROM points_grants") == 0
    assert await conn.fetchval("SELECT count(*) FROM points_accounts") == 0


async def test_the_threshold_day_in_sql_is_the_engines(
    settings: Settings, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # rule P2: the set-based import marks the same day as entitlements.points.threshold_reached_on
    from entitlements.points import threshold_reached_on

    numbers = [f"186123470{i:02d}" for i in range(6)]
    await province.branches(conn)
    for msisdn in numbers:
        await province.subscriber(conn, msisdn)
    ledgers: list[list[tuple[str, int, str | None]]] = [
        [("2026-01-01", 1500, "2026-03-31"), ("2026-04-01", 600, None)],
        [("2026-01-01", 1500, "2026-03-31"), ("2026-03-31", 600, None)],
        [("2025-01-01", 2500, "2025-03-31"), ("2026-05-01", 100, None)],
        [("2026-01-01", 700, None), ("2026-02-01", 700, "2026-02-01"), ("2026-02-01", 600, None)],
        [("2026-01-01", 1000, "2026-06-30"), ("2026-07-01", 1000, None), ("2026-08-01", 999, None)],
        [("2026-11-26", 2000, "2026-11-26")],
    ]
    rows = [
        f"{m},{g},{p},bill,{e or ''}"
        for m, ledger in zip(numbers, ledgers, strict=True)
        for g, p, e in ledger
    ]
    await import_points(conn, grants_redis(settings), tmp_path, rows, TODAY)
    marked = {
        r["msisdn"]: r["threshold_reached_on"] for r in await conn.fetch("SELECT * FROM points_accounts")
    }
    for msisdn, ledger in zip(numbers, ledgers, strict=True):
        parsed = [(date.fromisoformat(g), p, date.fromisoformat(e) if e else None) for g, p, e in ledger]
        assert marked[msisdn] == threshold_reached_on(parsed, 2000, TODAY), msisdn


async def test_an_old_record_without_points_is_read_and_a_bad_trailer_is_a_miss(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P3: a 21-byte record (written before points existed) reads as "no ledger"; bytes
    # that are not a points trailer are treated as a miss and replaced from PostgreSQL
    await grants.customer(conn, status="active")
    await import_points(conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-02-01,2600,bill,"], TODAY)
    snap = await snapshot.load_one(conn, GOLD, TODAY)
    assert snap is not None
    record = cache.record_for(snap, POLICY, TODAY)
    assert record is not None and record.points is not None
    redis = Redis.from_url(grants_redis(settings))
    client = await aiohttp_client(create_app(settings))
    try:
        await redis.hset(*key_of(GOLD), record.encode()[:BASE_SIZE])
        body = await lookup(client, tokens.ivr, GOLD)
        assert (body["source"], body["points"]) == ("cache", None)
        await redis.hset(*key_of(GOLD), record.encode()[:BASE_SIZE] + b"\xff\xff")
        body = await lookup(client, tokens.ivr, GOLD)
        assert body["source"] == "database"
        assert body["points"] == {"balance": 2600, "redeemable": 2600, "expiring_next_month": 0}
        for _ in range(100):
            if await redis.hget(*key_of(GOLD)) == record.encode():
                break
            await asyncio.sleep(0.01)
        assert await redis.hget(*key_of(GOLD)) == record.encode()
    finally:
        await redis.aclose()


async def test_answers_are_reused_by_record_and_the_points_spliced_per_subscriber(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule P3: two customers with the same record but different points share the reused
    # part of the answer, each with their own points (and the key=value form has them too)
    await grants.customer(conn, status="active")
    await grants.customer(conn, OTHER, status="active")
    await import_points(
        conn, grants_redis(settings), tmp_path, [f"{GOLD},2026-02-01,2600,bill,", f"{OTHER},2026-02-01,70,bill,"],
        TODAY,
    )  # fmt: skip
    app = create_app(settings)
    client = await aiohttp_client(app)
    gold = await cached_lookup(client, tokens.ivr, GOLD)
    other = await cached_lookup(client, tokens.ivr, OTHER)
    assert gold["points"] == {"balance": 2600, "redeemable": 2600, "expiring_next_month": 0}
    assert other["points"] == {"balance": 70, "redeemable": 0, "expiring_next_month": 0}
    assert {k: v for k, v in gold.items() if k not in ("msisdn", "points")} == {
        k: v for k, v in other.items() if k not in ("msisdn", "points")
    }
    from gateway.http.keys import LOOKUP

    assert len(app[LOOKUP].by_raw) == 1  # one record part for both subscribers
    response = await client.get(
        "/v1/ivr/lookup", params={"ani": GOLD, "format": "kv"}, headers=bearer(tokens.ivr)
    )
    text = await response.text()
    assert "points.balance=2600\n" in text and "points.redeemable=2600\n" in text


async def test_demo_data_has_points_and_uses_and_the_evaluation_caches_the_points(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    # rule P1, rule P2 and rule V1: `callgate demo-data` produces points (some past the
    # threshold, some not) and this year's VIP service uses within their quotas; rule P3:
    # the evaluation's cache refresh writes records whose points equal a fresh read
    from entitlements.months import Month
    from gateway.batch import demo, evaluation

    summary = await demo.load(conn, 1500, seed=7, today=TODAY, show_progress=False)
    assert summary.points_grants > 0 and summary.benefit_uses > 0
    reached = await conn.fetchval(
        "SELECT count(*) FROM points_accounts WHERE threshold_reached_on IS NOT NULL"
    )
    waiting = await conn.fetchval("SELECT count(*) FROM points_accounts WHERE threshold_reached_on IS NULL")
    assert reached > 0 and waiting > 0
    over = await conn.fetchval(
        """SELECT count(*) FROM (SELECT msisdn, level, count(*) AS n FROM benefit_uses
           WHERE benefit = 'airport_lounge' GROUP BY msisdn, level) u
           WHERE n > CASE level WHEN 'diamond' THEN 6 ELSE 4 END"""
    )
    assert over == 0
    await evaluation.run(
        conn, POLICY, Month.parse("2026-10"), TODAY,
        dsn=database_url, redis_url=settings.redis_url, workers=1, show_progress=False,
    )  # fmt: skip
    ivr = (await create_token(conn, "ivr"))[1]
    client = await aiohttp_client(create_app(settings))
    sample = await conn.fetch(
        """SELECT a.msisdn FROM points_accounts a JOIN subscribers s USING (msisdn)
           WHERE s.status <> 'cancelled' ORDER BY a.msisdn LIMIT 25"""
    )
    for row in sample:
        body = await lookup(client, ivr, row["msisdn"])
        assert body["source"] == "cache"
        assert body["points"] == await db_points(conn, row["msisdn"], TODAY)


async def test_callgate_import_points_from_the_command_line(
    database_url: str, redis_url: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    # rule P1 and rule P2: `callgate import points FILE.csv`, as an operator runs it
    from tests.gateway.points_support import points_file
    from tests.gateway.test_cli import callgate, store_env

    await province.branches(conn)
    await grants.customer(conn, status="active")
    env = store_env(database_url, redis_url, tmp_path)
    good = points_file(
        tmp_path, [f"{GOLD},2026-01-05,2500,bill,2026-12-31", f"{GOLD},2026-02-05,1000,promo,"]
    )
    result = callgate(["import", "points", str(good)], env)
    assert result.returncode == 0, result.stderr
    assert (
        "2 new grants" in result.stdout and "1 reached the 2,000-point redemption threshold" in result.stdout
    )
    bad = points_file(tmp_path, [f"{GOLD},2026-03-05,0,bill,"], name="bad.csv")
    result = callgate(["import", "points", str(bad)], env)
    assert result.returncode == 1
    assert "row 2: points must be positive, got 0" in result.stderr and "nothing loaded" in result.stderr
    assert await conn.fetchval("SELECT sum(points) FROM points_grants") == 3500
