"""POST /v1/credit/authorize (R5): the Lua script decides exactly like the engine, 1,000
concurrent charges never overspend, refs replay, nothing is lost when the process dies
between Redis and PostgreSQL, and Redis being down (or behind) never overspends either."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis as sync_redis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis

from entitlements.reactivation import decide_credit
from gateway.http.app import create_app
from gateway.http.keys import CREDIT
from gateway.services.credit import AUTHORIZE_LUA, Load, authorize_args, credit_keys, state_key
from gateway.settings import Settings
from gateway.stores.embedded import EmbeddedRedis
from gateway.stores.queries.credit import NO_GRANT, Grant
from tests.gateway import grants
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens

ROOT = Path(__file__).resolve().parents[2]


async def authorize(
    client: Any, token: str, amount: str | int, ref: str, msisdn: str = GOLD
) -> tuple[int, dict[str, Any]]:
    return await grants.call(
        client, "POST", "/v1/credit/authorize", token, {"msisdn": msisdn, "amount_yuan": amount, "ref": ref}
    )


async def used_fen(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT sum(credit_used_fen) FROM reactivations"))


# --- the script against the engine -------------------------------------------------------

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def lua_redis(redis_server: EmbeddedRedis) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(redis_server.url())
    yield client
    client.close()


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    has_grant=st.booleans(),
    limit=st.integers(1, 10**9),
    used_share=st.integers(0, 120),
    expires_in_ms=st.one_of(st.none(), st.integers(-(10**8), 10**8)),
    amounts=st.lists(st.integers(1, 10**9), min_size=1, max_size=6),
)
def test_the_script_decides_like_the_engine(
    lua_redis: sync_redis.Redis,
    has_grant: bool,
    limit: int,
    used_share: int,
    expires_in_ms: int | None,
    amounts: list[int],
) -> None:
    # rule R5: the Lua script and entitlements.reactivation.decide_credit agree, charge after charge
    lua_redis.flushdb()
    script = lua_redis.register_script(AUTHORIZE_LUA)
    used = limit * used_share // 100
    expires = None if expires_in_ms is None else NOW + timedelta(milliseconds=expires_in_ms)
    grant = Grant(1, limit, used, expires) if has_grant else NO_GRANT
    keys = credit_keys("18600000000")
    for i, amount in enumerate(amounts):
        load = Load("0", grant, []) if i == 0 else None
        reply = script(keys=keys, args=authorize_args(f"r{i}", "h", amount, NOW, 0, load))
        expected = decide_credit(grant.limit_fen, used, grant.expires_at, amount, NOW)
        assert reply[0] == b"new"
        assert (bool(reply[1]), int(reply[2]), reply[3].decode() or None) == (
            expected.approved,
            expected.remaining_fen,
            expected.code,
        )
        if expected.approved:
            used += amount
    assert int(lua_redis.hget(keys[0], "used") or 0) == (used if has_grant else 0)
    assert lua_redis.llen(keys[2]) == len(amounts)


# --- through the service --------------------------------------------------------------------


async def prepaid(conn: asyncpg.Connection, limit_fen: int = 30000, **kw: Any) -> int:
    await grants.customer(conn, level="diamond", payment_mode="prepaid", status="active")
    return await grants.credit_grant(conn, GOLD, limit_fen, **kw)


async def test_charges_until_the_credit_is_used_up(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R5: a charge larger than what is left is declined without ending the credit
    await prepaid(conn, 10000)
    client = await aiohttp_client(create_app(settings))
    assert await authorize(client, tokens.ivr, "60.00", "a") == (
        200,
        {"approved": True, "remaining_yuan": "40.00"},
    )
    assert await authorize(client, tokens.ivr, "40.01", "b") == (
        200,
        {"approved": False, "remaining_yuan": "40.00", "code": "credit_exhausted"},
    )
    assert await authorize(client, tokens.ivr, 40, "c") == (200, {"approved": True, "remaining_yuan": "0.00"})
    assert (await authorize(client, tokens.ivr, "0.01", "d"))[1]["code"] == "credit_exhausted"
    rows = await conn.fetch("SELECT ref, approved, remaining_fen, code FROM credit_debits ORDER BY ref")
    assert [(r["ref"], r["approved"], r["remaining_fen"], r["code"]) for r in rows] == [
        ("a", True, 4000, None),
        ("b", False, 4000, "credit_exhausted"),
        ("c", True, 0, None),
        ("d", False, 0, "credit_exhausted"),
    ]
    assert await used_fen(conn) == 10000


async def test_the_credit_ends_when_its_days_run_out(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R5: either limit ends it — here the days (R4: 5 days for diamond)
    await prepaid(conn, 30000, granted_at=settings.clock() - timedelta(days=5))
    client = await aiohttp_client(create_app(settings))
    assert await authorize(client, tokens.ivr, "1", "a") == (
        200,
        {"approved": False, "remaining_yuan": "0.00", "code": "credit_expired"},
    )


async def test_no_grant_means_no_credit(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn, status="active")
    client = await aiohttp_client(create_app(settings))
    assert await authorize(client, tokens.ivr, "1", "a") == (
        200,
        {"approved": False, "remaining_yuan": "0.00", "code": "no_credit"},
    )
    status, body = await authorize(client, tokens.ivr, "1", "b", msisdn=OTHER)
    assert status == 404 and body["code"] == "unknown_subscriber"


BAD = [
    pytest.param(
        {"msisdn": GOLD, "amount_yuan": "0", "ref": "x"}, 400, "invalid_request", id="a zero amount"
    ),
    pytest.param(
        {"msisdn": GOLD, "amount_yuan": "1.234", "ref": "x"}, 400, "invalid_request", id="three decimals"
    ),
    pytest.param(
        {"msisdn": GOLD, "amount_yuan": -1, "ref": "x"}, 400, "invalid_request", id="a negative amount"
    ),
    pytest.param({"msisdn": GOLD, "amount_yuan": "1"}, 400, "invalid_request", id="no ref"),
    pytest.param(
        {"msisdn": "12", "amount_yuan": "1", "ref": "x"}, 400, "invalid_number", id="a malformed number"
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD)
async def test_bad_requests(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens,
    body: dict[str, Any], status: int, code: str,
) -> None:  # fmt: skip
    await prepaid(conn)
    client = await aiohttp_client(create_app(settings))
    got, problem = await grants.call(client, "POST", "/v1/credit/authorize", tokens.ivr, body)
    assert (got, problem["code"]) == (status, code)
    assert (await grants.call(client, "POST", "/v1/credit/authorize", tokens.agent, BAD[0].values[0]))[
        0
    ] == 403


async def test_a_ref_replays_its_first_answer_and_rejects_another_body(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await prepaid(conn, 10000)
    client = await aiohttp_client(create_app(settings))
    first = await authorize(client, tokens.ivr, "30", "cdr-1")
    assert await authorize(client, tokens.ivr, "30.00", "cdr-1") == first
    assert await authorize(client, tokens.ivr, 30, "cdr-1") == first
    status, body = await authorize(client, tokens.ivr, "31", "cdr-1")
    assert status == 409 and body["code"] == "invalid_request"
    await grants.customer(conn, OTHER, level="diamond", payment_mode="prepaid", status="active")
    status, body = await authorize(client, tokens.ivr, "30", "cdr-1", msisdn=OTHER)
    assert status == 409 and body["code"] == "invalid_request"
    assert await used_fen(conn) == 3000
    assert await conn.fetchval("SELECT count(*) FROM credit_debits") == 1


async def test_a_thousand_concurrent_charges_never_overspend(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    # rule R5
    await prepaid(conn, 30000)
    client = await aiohttp_client(create_app(settings))
    rng = random.Random(6)
    amounts = [rng.randint(1, 100) for _ in range(1000)]  # fen; about 50,000 asked of 30,000
    results = await asyncio.gather(
        *(authorize(client, tokens.ivr, f"{a // 100}.{a % 100:02d}", f"c{i}") for i, a in enumerate(amounts))
    )
    assert {s for s, _ in results} == {200}
    approved = sum(a for a, (_, b) in zip(amounts, results, strict=True) if b["approved"])
    assert 29_900 < approved <= 30_000
    for a, (_, b) in zip(amounts, results, strict=True):
        if not b["approved"]:
            assert b["code"] == "credit_exhausted"
            assert int(b["remaining_yuan"].replace(".", "")) < a
    assert await used_fen(conn) == approved
    assert await conn.fetchval("SELECT count(*) FROM credit_debits") == 1000
    assert await conn.fetchval("SELECT sum(amount_fen) FROM credit_debits WHERE approved") == approved
    redis = Redis.from_url(redis_url)
    assert int(await redis.hget(state_key(GOLD), "used") or 0) == approved
    assert await redis.llen(credit_keys(GOLD)[2]) == 0  # every journal entry made it to PostgreSQL
    await redis.aclose()


CRASH = """
import asyncio, os, signal, sys
from datetime import datetime
from gateway.stores import db
from gateway.services.credit import CreditService, body_hash
from gateway.metrics import Metrics
from redis.asyncio import Redis

async def main() -> None:
    dsn, url, msisdn = sys.argv[1:4]
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    service = CreditService(Redis.from_url(url), pool, Metrics())
    now = datetime.fromisoformat("2026-11-26T10:00:00+08:00")
    reply = await service.decide_in_redis(msisdn, "cdr-crash", body_hash(msisdn, 2500), 2500, now)
    assert reply[0] == b"new" and reply[1] == 1, reply
    os.kill(os.getpid(), signal.SIGKILL)  # dies between the Redis debit and the PostgreSQL write

asyncio.run(main())
"""


async def test_nothing_is_lost_when_the_process_dies_between_redis_and_postgresql(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    database_url: str,
    redis_url: str,
) -> None:
    # rule R5: the journal entry written by the same script survives the process
    await prepaid(conn, 10000)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASH, database_url, redis_url, GOLD, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert await conn.fetchval("SELECT count(*) FROM credit_debits") == 0
    assert await used_fen(conn) == 0
    redis = Redis.from_url(redis_url)
    assert await redis.llen(credit_keys(GOLD)[2]) == 1

    client = await aiohttp_client(create_app(settings))  # start-up reconciles every journal
    row = await grants.row(
        conn, "SELECT approved, amount_fen, remaining_fen FROM credit_debits WHERE ref = 'cdr-crash'"
    )
    assert (row["approved"], row["amount_fen"], row["remaining_fen"]) == (True, 2500, 7500)
    assert await used_fen(conn) == 2500
    assert await redis.llen(credit_keys(GOLD)[2]) == 0
    # the charging side retries the charge it never got an answer for: the same answer, no second debit
    assert await authorize(client, tokens.ivr, "25", "cdr-crash") == (
        200,
        {"approved": True, "remaining_yuan": "75.00"},
    )
    assert await authorize(client, tokens.ivr, "75", "next") == (
        200,
        {"approved": True, "remaining_yuan": "0.00"},
    )
    assert await used_fen(conn) == 10000
    await redis.aclose()


async def test_a_missing_redis_state_is_loaded_from_postgresql(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
) -> None:
    # rule R5
    await prepaid(conn, 10000, used_fen=9000)
    client = await aiohttp_client(create_app(settings))
    assert await authorize(client, tokens.ivr, "5", "a") == (
        200,
        {"approved": True, "remaining_yuan": "5.00"},
    )
    redis = Redis.from_url(redis_url)
    await redis.delete(state_key(GOLD), credit_keys(GOLD)[1])  # Redis lost the state and the refs
    assert await authorize(client, tokens.ivr, "5", "a") == (
        200,
        {"approved": True, "remaining_yuan": "5.00"},
    )
    assert await authorize(client, tokens.ivr, "6", "b") == (
        200,
        {"approved": False, "remaining_yuan": "5.00", "code": "credit_exhausted"},
    )
    assert await used_fen(conn) == 9500
    await redis.aclose()


async def test_redis_down_debits_in_postgresql_and_a_stale_redis_never_overspends(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # rule R5: Redis unreachable → row-locked debit in PostgreSQL; PostgreSQL has the last word
    await prepaid(conn, 10000)
    with_redis = await aiohttp_client(create_app(settings))
    assert await authorize(with_redis, tokens.ivr, "30", "a") == (
        200,
        {"approved": True, "remaining_yuan": "70.00"},
    )

    dead = dataclasses.replace(settings, redis_url=f"unix://{tmp_path}/no-redis.sock")
    without_redis = await aiohttp_client(create_app(dead))
    assert await authorize(without_redis, tokens.ivr, "50", "b") == (
        200,
        {"approved": True, "remaining_yuan": "20.00"},
    )
    assert await authorize(without_redis, tokens.ivr, "50", "b") == (
        200,
        {"approved": True, "remaining_yuan": "20.00"},
    )
    status, body = await authorize(without_redis, tokens.ivr, "51", "b")
    assert status == 409 and body["code"] == "invalid_request"
    assert await used_fen(conn) == 8000
    assert await conn.fetchval("SELECT count(*) FROM credit_resync") == 1

    # Redis still holds used = 30 yuan: its approval of 40 is turned down by PostgreSQL
    assert await authorize(with_redis, tokens.ivr, "40", "c") == (
        200,
        {"approved": False, "remaining_yuan": "20.00", "code": "credit_exhausted"},
    )
    assert await authorize(with_redis, tokens.ivr, "40", "c") == (
        200,
        {"approved": False, "remaining_yuan": "20.00", "code": "credit_exhausted"},
    )
    assert await authorize(with_redis, tokens.ivr, "20", "d") == (
        200,
        {"approved": True, "remaining_yuan": "0.00"},
    )
    assert await used_fen(conn) == 10000
    metrics = await (await with_redis.get("/metrics")).text()
    assert "callgate_credit_overspend_refused_total 1.0" in metrics

    redis = Redis.from_url(redis_url)
    service = with_redis.app[CREDIT]
    await service.reconcile(min_age_ms=0)
    assert await conn.fetchval("SELECT count(*) FROM credit_resync") == 0
    assert await redis.exists(state_key(GOLD)) == 0  # reloaded from PostgreSQL next time
    assert (await authorize(with_redis, tokens.ivr, "0.01", "e"))[1]["code"] == "credit_exhausted"
    await redis.aclose()
