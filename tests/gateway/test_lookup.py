"""The per-call IVR lookup (Q1–Q4, SPEC §6 shapes) against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.http.app import create_app
from gateway.settings import Settings
from gateway.stores.record import Record, key_of
from tests.gateway.lookup_support import (
    CANCELLED,
    FIVE,
    FOUR,
    ONE,
    SUSPENDED_GOLD,
    WITH_MANAGER_FOUR,
    evaluated_province,
)  # fmt: skip

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def ivr(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> tuple[TestClient[Any, Any], dict[str, str]]:
    tokens = await evaluated_province(conn, database_url)
    client = await aiohttp_client(create_app(settings))
    return client, tokens


async def filled(redis: Redis, msisdn: str) -> bytes:
    """The subscriber's cache record once the background fill has written it."""
    for _ in range(200):
        raw = await redis.hget(*key_of(msisdn))
        if isinstance(raw, bytes) and raw:
            return raw
        await asyncio.sleep(0.01)
    raise AssertionError("the lookup's miss never filled the cache record")


async def lookup(client: TestClient[Any, Any], token: str, ani: str, **params: str) -> tuple[int, Any]:
    response = await client.get(
        "/v1/ivr/lookup", params={"ani": ani, **params}, headers={"Authorization": f"Bearer {token}"}
    )
    if response.content_type == "text/plain":
        return response.status, await response.text()
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("msisdn", "level", "queue", "has_manager"),
    [
        pytest.param(
            FIVE, "five_star", "vip", True, id="five-star goes to the VIP desk with the customer manager"
        ),
        pytest.param(FOUR, "four_star", "vip", False, id="four-star goes to the VIP desk"),
        pytest.param(
            WITH_MANAGER_FOUR,
            "four_star",
            "vip",
            False,
            id="a four-star gets no manager line even when one is assigned",
        ),
        pytest.param(ONE, "one_star", "general", False, id="one-star goes to the general queue"),
    ],
)
async def test_known_callers_are_routed_by_tier(
    ivr: tuple[TestClient[Any, Any], dict[str, str]], msisdn: str, level: str, queue: str, has_manager: bool
) -> None:
    # rule Q1 rule Q2 rule Q3
    client, tokens = ivr
    status, body = await lookup(client, tokens["ivr"], msisdn, dnis="10010", call_id="call-1")
    assert status == 200
    assert body["msisdn"] == msisdn and body["known"] is True
    assert body["tier"]["scheme"] == "star" and body["tier"]["level"] == level
    assert (
        body["tier"]["valid_until"] == "2027-10-31"
    )  # evaluated 2026-10: valid 2026-11-01 … 2027-10-31 (T1.9)
    assert body["queue"]["name"] == queue
    assert (body["manager"] is not None) == has_manager
    if has_manager:
        assert body["manager"] == {
            "id": body["manager"]["id"],
            "name": "王丽",
            "phone": "18600001111",
        }  # rule H7
    assert body["degraded"] is False and body["source"] in ("cache", "database")


async def test_priorities_follow_the_policy_order(ivr: tuple[TestClient[Any, Any], dict[str, str]]) -> None:
    # rule Q2: five-star above four-star above everyone in the general queue
    client, tokens = ivr
    priorities = [(await lookup(client, tokens["ivr"], n))[1]["queue"]["priority"] for n in (FIVE, FOUR, ONE)]
    assert priorities[0] > priorities[1] > priorities[2]


async def test_first_answer_from_database_then_from_cache(
    ivr: tuple[TestClient[Any, Any], dict[str, str]], redis_url: str
) -> None:
    client, tokens = ivr
    redis = Redis.from_url(redis_url)
    first = (await lookup(client, tokens["ivr"], FOUR))[1]
    raw = await filled(redis, FOUR)  # the miss fills the record in the background
    second = (await lookup(client, tokens["ivr"], FOUR))[1]
    await redis.aclose()
    assert (first["source"], second["source"]) == ("database", "cache")
    assert {k: v for k, v in first.items() if k != "source"} == {
        k: v for k, v in second.items() if k != "source"
    }
    assert len(raw) < 40  # the compact record


@pytest.mark.parametrize("ani", ["+86" + FOUR, "0086" + FOUR, "86-" + FOUR])
async def test_country_prefixes_are_normalised(
    ivr: tuple[TestClient[Any, Any], dict[str, str]], ani: str
) -> None:
    client, tokens = ivr
    status, body = await lookup(client, tokens["ivr"], ani)
    assert status == 200 and body["msisdn"] == FOUR and body["tier"]["level"] == "four_star"


@pytest.mark.parametrize("ani", ["anonymous", "unknown", "", "Anonymous"])
async def test_withheld_caller_is_an_ordinary_unknown_caller(
    ivr: tuple[TestClient[Any, Any], dict[str, str]], ani: str
) -> None:
    # rule Q4: withheld caller ID → 200, general queue
    client, tokens = ivr
    status, body = await lookup(client, tokens["ivr"], ani)
    assert status == 200
    assert body["known"] is False and body["tier"] is None and body["queue"]["name"] == "general"
    assert body["degraded"] is False


@pytest.mark.parametrize("ani", ["1861234abcd", "1861234567", "+1 650 253 0000", "10010"])
async def test_malformed_number_is_a_400_invalid_number(
    ivr: tuple[TestClient[Any, Any], dict[str, str]], ani: str
) -> None:
    # rule Q4: a malformed number goes to the IVR's error branch
    client, tokens = ivr
    response = await client.get(
        "/v1/ivr/lookup", params={"ani": ani}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
    )
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "invalid_number"


@pytest.mark.parametrize("msisdn", ["13912345678", CANCELLED], ids=["not a subscriber", "a cancelled number"])
async def test_unknown_callers_get_the_general_queue(
    ivr: tuple[TestClient[Any, Any], dict[str, str]], msisdn: str
) -> None:
    client, tokens = ivr
    for _ in range(2):  # second time from the cache's "not a subscriber" mark
        status, body = await lookup(client, tokens["ivr"], msisdn)
        assert status == 200 and body["known"] is False and body["tier"] is None
        assert body["queue"]["name"] == "general" and body["reactivation"]["code"] == "unknown_subscriber"


async def test_reactivation_preview(ivr: tuple[TestClient[Any, Any], dict[str, str]]) -> None:
    # rule R4: a prepaid four-star suspended for arrears: reactivation with gold terms, 100 yuan for 3 days
    client, tokens = ivr
    body = (await lookup(client, tokens["ivr"], SUSPENDED_GOLD))[1]
    assert body["reactivation"] == {
        "eligible": True,
        "mode": "prepaid_credit",
        "credit_limit_yuan": "100.00",
        "hours": None,
        "days": 3,
        "code": None,
    }
    active = (await lookup(client, tokens["ivr"], FIVE))[1]
    assert active["reactivation"]["eligible"] is False and active["reactivation"]["code"] == "not_suspended"


async def test_key_value_lines(ivr: tuple[TestClient[Any, Any], dict[str, str]]) -> None:
    client, tokens = ivr
    status, text = await lookup(client, tokens["ivr"], FIVE, format="kv")
    lines = dict(line.split("=", 1) for line in text.strip().splitlines())
    assert status == 200
    assert lines["msisdn"] == FIVE and lines["queue.name"] == "vip" and lines["tier.level"] == "five_star"
    assert lines["degraded"] == "0" and lines["manager.phone"] == "18600001111"


async def test_answer_is_remembered_by_call_id(ivr: tuple[TestClient[Any, Any], dict[str, str]]) -> None:
    client, tokens = ivr
    _, body = await lookup(client, tokens["ivr"], FOUR, call_id="abc-123")
    response = await client.get("/v1/calls/abc-123", headers={"Authorization": f"Bearer {tokens['agent']}"})
    assert response.status == 200 and await response.json() == body
    missing = await client.get("/v1/calls/nope", headers={"Authorization": f"Bearer {tokens['agent']}"})
    assert missing.status == 404


async def test_roles(ivr: tuple[TestClient[Any, Any], dict[str, str]]) -> None:
    client, tokens = ivr
    agent = await client.get(
        "/v1/ivr/lookup", params={"ani": FOUR}, headers={"Authorization": f"Bearer {tokens['agent']}"}
    )
    assert agent.status == 403 and (await agent.json())["code"] == "forbidden"
    admin = await client.get(
        "/v1/ivr/lookup", params={"ani": FOUR}, headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    assert admin.status == 200
    anonymous = await client.get("/v1/ivr/lookup", params={"ani": FOUR})
    assert anonymous.status == 401


async def test_bad_call_id_is_rejected(ivr: tuple[TestClient[Any, Any], dict[str, str]]) -> None:
    client, tokens = ivr
    status, body = await lookup(client, tokens["ivr"], FOUR, call_id="x" * 200)
    assert status == 400 and body["code"] == "invalid_request" and body["field"] == "call_id"


async def test_cached_record_serves_the_next_level_from_its_first_day(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    database_url: str,
    redis_url: str,
) -> None:
    # rule T1.9: an evaluation run on the 6th changes nothing for callers before the 1st of the next month
    tokens = await evaluated_province(conn, database_url)
    redis = Redis.from_url(redis_url)
    raw = await redis.hget(*key_of(FOUR))
    assert raw is None
    client = await aiohttp_client(create_app(settings))
    await lookup(client, tokens["ivr"], FOUR)
    raw = await filled(redis, FOUR)
    record = Record.decode(raw)
    assert record is not None and record.current is not None
    # put a five-star from December 1st in the record, as November's evaluation would
    from entitlements.model import Tier

    upgraded = dataclasses.replace(
        record,
        next_tier=Tier("star", "five_star", record.current.valid_until),
        next_from=datetime(2026, 12, 1).date(),
    )
    await redis.hset(*key_of(FOUR), upgraded.encode())
    november = (await lookup(client, tokens["ivr"], FOUR))[1]
    december_settings = dataclasses.replace(settings, now=datetime.fromisoformat("2026-12-01T00:00:01+08:00"))
    december_client = await aiohttp_client(create_app(december_settings))
    december = (await lookup(december_client, tokens["ivr"], FOUR))[1]
    await redis.aclose()
    assert (november["tier"]["level"], november["source"]) == ("four_star", "cache")
    assert (december["tier"]["level"], december["source"]) == ("five_star", "cache")
