"""Helpers for the reactivation, credit, payment and work-order service tests: tokens per
role, tiers written straight to SQL, and a thin HTTP client wrapper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.services.tokens import create_token
from gateway.stores.record import Record, key_of
from tests.gateway import province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]

GOLD = "18612346001"  # the usual subject of a test
OTHER = "18612346002"
GRANTED_AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")  # the day before the pinned clock


@dataclass(frozen=True, slots=True)
class Tokens:
    """A bearer token per role (branch tokens for each city and county of the province)."""

    ivr: str
    agent: str
    admin: str
    zz_city: str
    zz_county: str
    ly_city: str
    ly_county: str


async def tokens(conn: asyncpg.Connection) -> Tokens:
    """Tokens for every role; call after `province.branches`, before the app starts."""
    made = {}
    for name, role, branch in (
        ("ivr", "ivr", None),
        ("agent", "agent", None),
        ("admin", "admin", None),
        ("zz_city", "branch", "HA-ZZ"),
        ("zz_county", "branch", "HA-ZZ-ZM"),
        ("ly_city", "branch", "HA-LY"),
        ("ly_county", "branch", "HA-LY-YS"),
    ):
        _, made[name] = await create_token(conn, role, branch, name)
    return Tokens(**made)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def card(
    conn: asyncpg.Connection,
    msisdn: str,
    level: str,
    *,
    effective_from: date = date(2026, 6, 5),
    valid_until: date = date(2027, 6, 8),
) -> None:
    """An imported legacy VIP card (T2), honoured under unicom-2015 until it expires (T1.11)."""
    await conn.execute(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, since, source)
           VALUES ($1, 'unicom-vip', date_trunc('month', $2::date), 'import', 'vip_card', $3, 'new', $2,
                   $4, $2, 'import')""",
        msisdn,
        effective_from,
        level,
        valid_until,
    )


async def star(
    conn: asyncpg.Connection,
    msisdn: str,
    level: str,
    *,
    evaluated: date = date(2026, 10, 1),
    effective_from: date = date(2026, 11, 1),
    valid_until: date = date(2027, 10, 31),
) -> None:
    """A stored T1 star assignment with a minimal explanation (no figures)."""
    explanation = {
        "v": 1, "policy": "unicom-2015", "version": "test", "scheme": "star",
        "month": evaluated.strftime("%Y-%m"), "run": evaluated.replace(day=6).isoformat(), "level": level,
        "change": "new", "from": effective_from.isoformat(), "until": valid_until.isoformat(),
        "rules": ["T1.6"], "inputs": {}, "figures": {},
    }  # fmt: skip
    await conn.execute(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, since, source)
           VALUES ($1, 'unicom-2015', $2, 'test', 'star', $3, 'new', $4, $5, $4, 'evaluation')""",
        msisdn,
        evaluated,
        level,
        effective_from,
        valid_until,
    )
    await conn.execute(
        """INSERT INTO tier_explanations (msisdn, policy, evaluated_month, explanation)
           VALUES ($1, 'unicom-2015', $2, $3)""",
        msisdn,
        evaluated,
        explanation,
    )


async def customer(
    conn: asyncpg.Connection,
    msisdn: str = GOLD,
    *,
    level: str = "gold",
    payment_mode: str = "postpaid",
    status: str = "suspended",
    unpaid_months: int = 1,
    city: str = "HA-ZZ",
    county: str | None = "HA-ZZ-ZM",
    password_hash: str | None = None,
) -> None:
    """A subscriber with a legacy card (or star level), 100 yuan a month billed from 2025-11 to
    2026-10 and the last `unpaid_months` of them unpaid."""
    await province.subscriber(
        conn, msisdn, payment_mode=payment_mode, status=status, city=city, county=county,
        password_hash=password_hash,
    )  # fmt: skip
    unpaid_from = None
    if unpaid_months:
        unpaid_from = ["2026-10", "2026-09", "2026-08", "2026-07"][unpaid_months - 1]
    await province.bills(conn, msisdn, "2025-11", "2026-10", 100, unpaid_from=unpaid_from)
    if level in ("supreme", "diamond", "gold", "silver"):
        await card(conn, msisdn, level)
    elif level != "none":
        await star(conn, msisdn, level)


#: `call_id` of `reactivation_body`: a call from the number itself, answered by the service
#: (H1) just before the request (`answer_own_call`).
OWN_CALL = "own-call"


def own_call_id(msisdn: str) -> str:
    """The call id of the customer's own call in these tests."""
    return f"test-call-{msisdn}"


def reactivation_body(
    msisdn: str = GOLD,
    *,
    channel: str = "agent",
    method: str = "own_number",
    password: str | None = None,
    call_id: str | None = OWN_CALL,
) -> dict[str, Any]:
    """A POST /v1/reactivations body (own number: on the customer's own call, H1, unless
    `call_id` names another call or is None: no call at all)."""
    verification: dict[str, Any] = {"method": method}
    if password is not None:
        verification["password"] = password
    body: dict[str, Any] = {"msisdn": msisdn, "channel": channel, "verification": verification}
    if method == "own_number" or call_id != OWN_CALL:
        body["call_id"] = own_call_id(msisdn) if call_id == OWN_CALL else call_id
    return body


def answer_own_call(client: TestClient[Any, Any], msisdn: str) -> None:
    """H1: the service answered the lookup of a call from `msisdn` (as `GET /v1/ivr/lookup`
    with that ANI and call id does: tests/gateway/test_servicing.py goes through the route)."""
    from gateway.http.keys import LOOKUP

    client.app[LOOKUP].note_call_number(own_call_id(msisdn), msisdn)


async def reactivate(
    client: TestClient[Any, Any], token: str, key: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST /v1/reactivations; (status, JSON body)."""
    body = body if body is not None else reactivation_body()
    if body.get("call_id") == own_call_id(body["msisdn"]):
        answer_own_call(client, body["msisdn"])
    response = await client.post(
        "/v1/reactivations", json=body, headers={**bearer(token), "Idempotency-Key": key}
    )
    return response.status, await response.json(content_type=None)


async def call(
    client: TestClient[Any, Any], method: str, path: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """Any request with a token; (status, JSON body)."""
    response = await client.request(method, path, json=body, headers=bearer(token))
    return response.status, await response.json(content_type=None)


def at(text: str) -> datetime:
    """An aware instant from ISO text."""
    return datetime.fromisoformat(text)


async def credit_grant(
    conn: asyncpg.Connection,
    msisdn: str,
    limit_fen: int,
    *,
    granted_at: datetime = GRANTED_AT,
    days: int = 5,
    used_fen: int = 0,
) -> int:
    """A prepaid reactivation with its temporary credit (R4); returns its id."""
    rid = await conn.fetchval(
        """INSERT INTO reactivations (msisdn, grant_month, seq, mode, scheme, level, channel, actor,
               granted_at, expires_at, credit_limit_fen, credit_used_fen)
           VALUES ($1, date_trunc('month', $2 AT TIME ZONE 'Asia/Shanghai')::date, 1, 'prepaid_credit',
                   'vip_card', 'diamond', 'agent', 'test', $2, $3, $4, $5) RETURNING id""",
        msisdn,
        granted_at,
        granted_at + timedelta(days=days),
        limit_fen,
        used_fen,
    )
    return int(rid)


async def row(conn: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.Record:
    """The one row a query must return."""
    found = await conn.fetchrow(sql, *args)
    assert found is not None, sql
    return found


async def cached(redis_url: str, msisdn: str) -> Record | None:
    """The subscriber's cache record as Redis holds it now (None: no record)."""
    redis = Redis.from_url(redis_url)
    try:
        raw = await redis.hget(*key_of(msisdn))
    finally:
        await redis.aclose()
    if raw is None:
        return None
    assert isinstance(raw, bytes)
    return Record.decode(raw)
