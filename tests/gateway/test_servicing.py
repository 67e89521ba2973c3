"""Hotline servicing (SPEC §8) against real PostgreSQL and Redis: own number bound to the
call (H1), imported and initial passwords (H2, H3), password change and reset (H4),
emergency stop and restart (H5), arrears and suspension (H6), and a wrong password that
answers the same whatever the account's state (red-team finding 6d)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import timedelta
from typing import Any

import asyncpg
import bcrypt
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.http.app import create_app
from gateway.services.identity import hash_password, password_matches
from gateway.services.lookup import call_key
from gateway.settings import Settings
from tests.gateway import grants, province
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens, bearer

PASSWORD = "246810"


async def lookup(client: TestClient[Any, Any], token: str, ani: str, call_id: str) -> dict[str, Any]:
    """The IVR's lookup of a call (what makes the call's number known, H1)."""
    response = await client.get(
        "/v1/ivr/lookup", params={"ani": ani, "call_id": call_id}, headers=bearer(token)
    )
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def flushed(redis_url: str, call_id: str) -> None:
    """Wait (bounded) until the lookup's batched write of the call's number reached Redis."""
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(500):  # 10 s at most: the batch leaves every 50 ms
            if await redis.exists(call_key(call_id)):
                return
            await asyncio.sleep(0.02)
    finally:
        await redis.aclose()
    raise AssertionError("the call's number never reached Redis")


def own(call_id: str | None, msisdn: str = GOLD, channel: str = "agent") -> dict[str, Any]:
    """A reactivation body verified by own number on `call_id` (None: no call id at all)."""
    return grants.reactivation_body(msisdn, channel=channel, call_id=call_id)


def by_password(password: str, msisdn: str = GOLD, channel: str = "agent") -> dict[str, Any]:
    """A reactivation body verified by service password."""
    return grants.reactivation_body(
        msisdn, channel=channel, method="service_password", password=password, call_id=None
    )


async def post(
    client: TestClient[Any, Any], path: str, token: str, body: dict[str, Any], key: str | None = None
) -> tuple[int, dict[str, Any]]:
    """A POST with a token (and an Idempotency-Key); (status, JSON body)."""
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json(content_type=None)


# --- H1: own number is a fact of the call ------------------------------------------------


async def test_own_number_on_the_customers_own_call_is_granted(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H1: the call's normalised ANI (+86 spelling) equals msisdn
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, "+86" + GOLD, "sip-call-1@pbx")
    status, body = await grants.reactivate(client, tokens.agent, "k1", own("sip-call-1@pbx"))
    assert status == 201, body
    detail = await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'reactivation'")
    assert detail["verification"] == "own_number" and detail["call"] == "matched"


@pytest.mark.parametrize(
    ("call_id", "why"),
    [
        pytest.param("sip-other", "other_number", id="rule H1: another number's call is refused"),
        pytest.param(None, "no_call_id", id="rule H1: no call_id is refused"),
        pytest.param("never-looked-up", "unknown_call", id="rule H1: a call the service never answered is refused"),
    ],
)  # fmt: skip
async def test_own_number_without_the_customers_call_is_refused(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    call_id: str | None,
    why: str,
) -> None:
    await grants.customer(conn)
    await grants.customer(conn, OTHER)
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, OTHER, "sip-other")
    status, body = await grants.reactivate(client, tokens.agent, "k1", own(call_id))
    assert status == 409 and body["code"] == "identity_not_verified", body
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 0
    detail = await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'reactivation'")
    assert detail["call"] == why


async def test_the_call_memory_is_shared_and_expires_after_two_hours(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H1: any process reads the call's number from Redis; 2 h (and the minute) later it is expired
    await grants.customer(conn)
    first = await aiohttp_client(create_app(settings))
    await lookup(first, tokens.ivr, GOLD, "sip-shared")
    await flushed(settings.redis_url or "", "sip-shared")
    redis = Redis.from_url(settings.redis_url or "")
    ttl = await redis.ttl(call_key("sip-shared"))
    await redis.aclose()
    assert 7100 < ttl <= 7200  # the memory lasts CALLGATE_CALL_MEMORY_S (default 7200)
    late = dataclasses.replace(settings, now=settings.clock() + timedelta(seconds=7200 + 60))
    expired = await aiohttp_client(create_app(late))
    status, body = await grants.reactivate(expired, tokens.agent, "late", own("sip-shared"))
    assert status == 409 and body["code"] == "identity_not_verified"
    other_worker = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(other_worker, tokens.agent, "k2", own("sip-shared"))
    assert status == 201, body


async def test_redis_down_leaves_own_number_unproven_but_the_password_works(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H1: with Redis unreachable another worker's call cannot be proven
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    await grants.customer(conn, OTHER, password_hash=hash_password(PASSWORD))
    dead = dataclasses.replace(settings, redis_url="redis://127.0.0.1:9/0")
    client = await aiohttp_client(create_app(dead))
    status, body = await grants.reactivate(client, tokens.agent, "k1", own("answered-elsewhere"))
    assert status == 409 and body["code"] == "identity_not_verified"
    status, body = await grants.reactivate(client, tokens.agent, "k2", by_password(PASSWORD, OTHER))
    assert status == 201, body


# --- H2, H3: imported hashes and initial passwords -------------------------------------


async def test_a_bcrypt_hash_verifies_and_is_upgraded_to_argon2id(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H2
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    await grants.customer(conn, password_hash=legacy)
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(client, tokens.agent, "k1", by_password(PASSWORD))
    assert status == 201, body
    stored = await conn.fetchval("SELECT password_hash FROM subscribers WHERE msisdn = $1", GOLD)
    assert stored.startswith("$argon2id$") and await password_matches(stored, PASSWORD)
    detail = await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'reactivation'")
    assert detail["upgraded"] is True and PASSWORD not in str(detail)


async def test_an_initial_password_is_refused_on_the_ivr_and_accepted_by_an_agent(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H3
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    await conn.execute("UPDATE subscribers SET password_initial = true")
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(client, tokens.ivr, "k1", by_password(PASSWORD, channel="ivr"))
    assert status == 409 and body["code"] == "initial_password", body
    status, body = await grants.reactivate(client, tokens.agent, "k2", by_password(PASSWORD))
    assert status == 201, body


# --- H4: change and reset ----------------------------------------------------------------


async def test_a_password_change_clears_the_lockout_and_the_initial_mark(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H4
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    await conn.execute("UPDATE subscribers SET password_initial = true")
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(client, tokens.ivr, "w", by_password("000000", channel="ivr"))
    assert body["remaining_attempts"] == 4
    path = f"/v1/subscribers/{GOLD}/password"
    change = {"channel": "ivr", "old_password": PASSWORD, "new_password": "135792"}
    status, body = await post(client, path, tokens.ivr, change)
    assert status == 200 and body["msisdn"] == GOLD and body["changed_at"], body
    row = await grants.row(
        conn, "SELECT password_hash, password_initial FROM subscribers WHERE msisdn = $1", GOLD
    )
    assert row["password_initial"] is False and await password_matches(row["password_hash"], "135792")
    assert await conn.fetchval("SELECT count(*) FROM password_failures") == 0
    status, body = await grants.reactivate(client, tokens.ivr, "k", by_password("135792", channel="ivr"))
    assert status == 201, body
    audit = await conn.fetch("SELECT action, outcome, detail FROM audit_log ORDER BY id")
    assert ("password_change", "changed") in [(a["action"], a["outcome"]) for a in audit]
    assert "135792" not in str([dict(a) for a in audit]) and PASSWORD not in str([dict(a) for a in audit])


async def test_a_wrong_old_password_is_counted_and_refused(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H4, rule R9
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    client = await aiohttp_client(create_app(settings))
    change = {"channel": "ivr", "old_password": "000000", "new_password": "135792"}
    status, body = await post(client, f"/v1/subscribers/{GOLD}/password", tokens.ivr, change)
    assert status == 409 and body["code"] == "identity_not_verified" and body["remaining_attempts"] == 4
    assert await conn.fetchval("SELECT failures FROM password_failures") == 1


async def test_a_reset_sends_the_new_password_by_sms_only(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H4: reset on an own-number call (rule H1); the SMS lands in the outbox, not in the reply
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    client = await aiohttp_client(create_app(settings))
    path = f"/v1/subscribers/{GOLD}/password"
    status, body = await post(client, path, tokens.ivr, {"channel": "ivr"})
    assert status == 409 and body["code"] == "identity_not_verified"  # no call: no reset
    await lookup(client, tokens.ivr, GOLD, "sip-reset")
    response = await client.post(
        path, json={"channel": "ivr", "call_id": "sip-reset"}, headers=bearer(tokens.ivr)
    )
    text = await response.text()
    assert response.status == 200, text
    sms = await grants.row(conn, "SELECT kind, body, status FROM notifications WHERE msisdn = $1", GOLD)
    assert sms["kind"] == "password_reset" and sms["status"] == "pending"
    found = re.search(r"[0-9]{6}", sms["body"])
    assert found is not None and found.group() not in text
    stored = await conn.fetchval("SELECT password_hash FROM subscribers WHERE msisdn = $1", GOLD)
    assert await password_matches(stored, found.group())
    # A second reset the same month is a second message (the tier SMS stays one a month).
    status, _ = await post(client, path, tokens.ivr, {"channel": "ivr", "call_id": "sip-reset"})
    assert status == 200
    assert await conn.fetchval("SELECT count(*) FROM notifications WHERE kind = 'password_reset'") == 2


@pytest.mark.parametrize(
    "weak",
    [
        pytest.param("12345", id="rule H4: five digits are too short"),
        pytest.param("abcdef", id="rule H4: letters are refused"),
        pytest.param("888888", id="rule H4: one repeated digit is refused"),
        pytest.param("123456", id="rule H4: an ascending run is refused"),
        pytest.param("654321", id="rule H4: a descending run is refused"),
        pytest.param(GOLD[-6:], id="rule H4: the number's last six digits are refused"),
    ],
)
async def test_weak_passwords_are_refused(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens, weak: str
) -> None:
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    client = await aiohttp_client(create_app(settings))
    change = {"channel": "agent", "old_password": PASSWORD, "new_password": weak}
    response = await client.post(
        f"/v1/subscribers/{GOLD}/password", json=change, headers=bearer(tokens.agent)
    )
    text = await response.text()
    assert response.status == 400 and '"weak_password"' in text
    assert weak not in text  # the password is never echoed
    assert await conn.fetchval("SELECT count(*) FROM password_failures") == 0  # no attempt used


# --- H5: emergency stop and restart ------------------------------------------------------


async def test_emergency_stop_and_restart_with_the_cache_following(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H5
    await grants.customer(conn, status="active", password_hash=hash_password(PASSWORD))
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens.ivr, GOLD, "sip-lost")
    stop = {"channel": "ivr", "call_id": "sip-lost", "verification": {"method": "own_number"}}
    path = f"/v1/subscribers/{GOLD}/emergency-stop"
    status, body = await post(client, path, tokens.ivr, stop, "s1")
    assert status == 200 and body["status"] == "stopped" and body["previous_status"] == "active", body
    record = await grants.cached(settings.redis_url or "", GOLD)
    assert record is not None and record.status == "stopped"
    answer = await lookup(client, tokens.ivr, GOLD, "sip-after")
    assert answer["status"] == "stopped" and answer["tier"]["level"] == "gold"  # keeps tier and queue
    replay = await client.post(path, json=stop, headers=bearer(tokens.ivr) | {"Idempotency-Key": "s1"})
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    status, body = await post(client, path, tokens.ivr, stop, "s2")
    assert status == 409 and body["code"] == "already_stopped"
    # rule H6: a stopped number is not suspended
    status, body = await grants.reactivate(client, tokens.agent, "r", by_password(PASSWORD))
    assert status == 409 and body["code"] == "not_suspended"

    restart = f"/v1/subscribers/{GOLD}/emergency-restart"
    status, body = await post(client, restart, tokens.ivr, {**stop, "channel": "ivr"}, "r1")
    assert status == 409 and body["code"] == "identity_not_verified"  # own number does not restart
    with_password = {"channel": "agent", "verification": {"method": "service_password", "password": PASSWORD}}
    status, body = await post(client, restart, tokens.agent, with_password, "r2")
    assert status == 200 and body["status"] == "active" and body["previous_status"] == "stopped", body
    record = await grants.cached(settings.redis_url or "", GOLD)
    assert record is not None and record.status == "active"
    status, body = await post(client, restart, tokens.agent, with_password, "r3")
    assert status == 409 and body["code"] == "not_stopped"
    audit = await conn.fetch(
        "SELECT action, outcome, code FROM audit_log WHERE action LIKE 'emergency%' ORDER BY id"
    )
    assert [(a["action"], a["outcome"], a["code"]) for a in audit] == [
        ("emergency_stop", "changed", None),
        ("emergency_stop", "refused", "already_stopped"),
        ("emergency_restart", "refused", "identity_not_verified"),
        ("emergency_restart", "changed", None),
        ("emergency_restart", "refused", "not_stopped"),
    ]


async def test_a_suspended_number_restarts_suspended(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H5: restart returns the number to the status it had before the stop
    await grants.customer(conn, password_hash=hash_password(PASSWORD))
    client = await aiohttp_client(create_app(settings))
    body = {"channel": "agent", "verification": {"method": "service_password", "password": PASSWORD}}
    status, _ = await post(client, f"/v1/subscribers/{GOLD}/emergency-stop", tokens.agent, body, "a")
    assert status == 200
    status, answer = await post(client, f"/v1/subscribers/{GOLD}/emergency-restart", tokens.agent, body, "b")
    assert status == 200 and answer["status"] == "suspended"
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD) == "suspended"


async def test_a_cancelled_number_is_not_stopped(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H5
    await grants.customer(conn, status="cancelled", password_hash=hash_password(PASSWORD))
    client = await aiohttp_client(create_app(settings))
    body = {"channel": "agent", "verification": {"method": "service_password", "password": PASSWORD}}
    status, answer = await post(client, f"/v1/subscribers/{GOLD}/emergency-stop", tokens.agent, body, "a")
    assert status == 409 and answer["code"] == "cancelled"


# --- H6 ------------------------------------------------------------------------------------


async def test_suspended_without_arrears_is_not_in_arrears(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H6
    await grants.customer(conn, unpaid_months=0)
    client = await aiohttp_client(create_app(settings))
    status, body = await grants.reactivate(client, tokens.agent, "k")
    assert status == 409 and body["code"] == "not_in_arrears", body
    answer = await lookup(client, tokens.ivr, GOLD, "sip-h6")
    assert answer["reactivation"]["code"] == "not_in_arrears"


# --- red-team 6d: the password is no oracle for the account's state -----------------------


@pytest.mark.parametrize("status", ["active", "suspended", "stopped", "cancelled"])
async def test_a_wrong_password_answers_the_same_whatever_the_state(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens, status: str
) -> None:
    # rule R9, rule H1: identity first; the refusal does not tell the account's state
    await province.subscriber(conn, GOLD, password_hash=hash_password(PASSWORD))
    await province.bills(conn, GOLD, "2025-11", "2026-10", 100, unpaid_from="2026-10")
    await grants.card(conn, GOLD, "gold")
    stopped_from = "active" if status == "stopped" else None
    await conn.execute(
        "UPDATE subscribers SET status = $2, stopped_from = $3 WHERE msisdn = $1", GOLD, status, stopped_from
    )
    client = await aiohttp_client(create_app(settings))
    wrong = {"channel": "agent", "verification": {"method": "service_password", "password": "000000"}}
    answers = [
        await grants.reactivate(client, tokens.agent, "r", by_password("000000")),
        await post(client, f"/v1/subscribers/{GOLD}/emergency-stop", tokens.agent, wrong, "s"),
        await post(client, f"/v1/subscribers/{GOLD}/emergency-restart", tokens.agent, wrong, "t"),
        await post(
            client,
            f"/v1/subscribers/{GOLD}/password",
            tokens.agent,
            {"channel": "agent", "old_password": "000000", "new_password": "135792"},
        ),
    ]
    # Own number asserted without the customer's call is no key to the state either.
    answers.append(await grants.reactivate(client, tokens.agent, "o", own(None)))
    assert [(s, b["code"]) for s, b in answers] == [(409, "identity_not_verified")] * 5
    assert [b.get("remaining_attempts") for _, b in answers[:4]] == [4, 3, 2, 1]
    assert all("status" not in b.get("detail", "") for _, b in answers)


@pytest.mark.parametrize("number", ["18612345678", "037162345678", "0371623456", "1234567"])
def test_the_call_memory_keeps_every_number_exactly(number: str) -> None:
    # rule H1: the packed value keeps the number's leading zeros and the minute of the call
    from gateway.services.lookup import call_value, parse_call_value

    assert parse_call_value(call_value(number, 1_795_000_000.0)) == (number, (1_795_000_000 // 60) % 2**19)
    assert parse_call_value(b"18612345678:1795000000") is None


async def test_with_redis_down_the_call_memory_waits_bounded(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule H1: while Redis is out the batches wait, the newest CALLS_MAX of them; this process
    # still proves its own calls from memory
    from gateway.http.keys import LOOKUP
    from gateway.services.lookup import CALLS_MAX

    await grants.customer(conn)
    dead = dataclasses.replace(settings, redis_url="redis://127.0.0.1:9/0")
    client = await aiohttp_client(create_app(dead))
    service = client.app[LOOKUP]
    while service.redis_breaker.allow():  # the lookups' failures open the breaker
        service.redis_breaker.failure("test")
    for i in range(CALLS_MAX + 5_000):
        service.note_call_number(f"outage-{i}", GOLD)
    for _ in range(100):  # the background task trims within a tick (50 ms)
        if len(service._number_queue) <= CALLS_MAX:
            break
        await asyncio.sleep(0.05)
    assert len(service._number_queue) == CALLS_MAX
    status, body = await grants.reactivate(client, tokens.agent, "k", own(f"outage-{CALLS_MAX + 4_999}"))
    assert status == 201, body
