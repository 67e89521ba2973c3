"""VIP services with yearly quotas (V1) and clubs (V2) against real PostgreSQL: uses within
the quota, refusals, races for the last use, the agent's view, joining clubs by tenure."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.settings import Settings
from tests.gateway import grants, province
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens

LOUNGE = "/v1/subscribers/{}/benefits/airport_lounge/uses"
SIM = "/v1/subscribers/{}/benefits/free_sim_replacement/uses"


async def use(
    client: TestClient[Any, Any], token: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    return await grants.call(client, "POST", path, token, body if body is not None else {})


async def test_lounge_visits_count_down_to_the_quota(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule V1: gold cards have four lounge visits a calendar year, at the six lounges of S20
    await grants.customer(conn, level="none", status="active")
    await grants.card(conn, GOLD, "gold", effective_from=date(2025, 6, 5))  # in force since 2025
    client = await aiohttp_client(create_app(settings))
    remaining = []
    for place in ("urumqi", "kashgar", "ili", "aksu"):
        status, body = await use(client, tokens.agent, LOUNGE.format(GOLD), {"place": place})
        assert status == 201, body
        remaining.append(body["remaining"])
    assert remaining == [3, 2, 1, 0]
    status, body = await use(client, tokens.agent, LOUNGE.format(GOLD), {"place": "hotan"})
    assert (status, body["code"], body["quota"], body["year"]) == (409, "quota_used", 4, 2026)
    assert body["detail_zh"] == "该项服务本年度的次数已用完。"
    # a visit last year (Asia/Shanghai) counts against last year's quota
    last_year = {"place": "hotan", "at": "2025-12-31T15:59:59+00:00"}  # 23:59:59 in Shanghai
    status, body = await use(client, tokens.agent, LOUNGE.format(GOLD), last_year)
    assert (status, body["year"], body["remaining"]) == (201, 2025, 3)
    new_year = {"place": "hotan", "at": "2025-12-31T16:00:00+00:00"}  # 2026-01-01 00:00 in Shanghai
    assert (await use(client, tokens.agent, LOUNGE.format(GOLD), new_year))[1]["code"] == "quota_used"
    outcomes = await conn.fetch(
        "SELECT outcome, code FROM audit_log WHERE action = 'benefit_use' ORDER BY id"
    )
    assert [(r["outcome"], r["code"]) for r in outcomes] == [("recorded", None)] * 4 + [
        ("refused", "quota_used"), ("recorded", None), ("refused", "quota_used"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("level", "path", "body", "status", "code", "remaining"),
    [
        pytest.param("silver", LOUNGE, {"place": "urumqi"}, 409, "not_entitled", None, id="silver cards have no lounge"),
        pytest.param("three_star", SIM, {}, 409, "not_entitled", None, id="three-star: no free SIM replacement"),
        pytest.param("five_star", SIM, {}, 201, None, None, id="five-star: SIM replacement unlimited"),
        pytest.param("silver", SIM, {}, 201, None, 0, id="silver: one free SIM replacement a year"),
        pytest.param("diamond", LOUNGE, {}, 400, "invalid_request", None, id="a lounge visit names the lounge"),
        pytest.param("diamond", LOUNGE, {"place": "beijing"}, 400, "invalid_request", None, id="one of the six lounges"),
        pytest.param(
            "diamond", "/v1/subscribers/{}/benefits/golf/uses", {}, 404, "unknown_benefit", None,
            id="a service the policy does not have",
        ),
        pytest.param(
            "diamond", LOUNGE, {"place": "urumqi", "at": "2026-11-27T10:00:00+08:00"}, 400, "invalid_request",
            None, id="a use in the future",
        ),
        pytest.param(
            "diamond", LOUNGE, {"place": "urumqi", "at": "0001-01-01T00:00:00+14:00"}, 400, "invalid_request",
            None, id="a use in the year 1",
        ),
    ],
)  # fmt: skip
async def test_uses_and_refusals(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    level: str,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
    remaining: int | None,
) -> None:
    # rule V1: refused for a level without the service (not_entitled, rule E); quotas per level
    await grants.customer(conn, level=level, status="active")
    client = await aiohttp_client(create_app(settings))
    got, answer = await use(client, tokens.agent, path.format(GOLD), body)
    assert got == status, answer
    assert answer.get("code") == code
    if status == 201:
        assert answer["remaining"] == remaining


async def test_who_may_record_uses(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule V1: agents record uses; an unknown number is 404, a cancelled one 409
    await grants.customer(conn, status="active")
    await grants.customer(conn, OTHER, status="cancelled")
    client = await aiohttp_client(create_app(settings))
    assert (await use(client, tokens.ivr, SIM.format(GOLD)))[0] == 403
    assert (await use(client, tokens.agent, SIM.format("18699990000")))[1]["code"] == "unknown_subscriber"
    assert (await use(client, tokens.agent, SIM.format(OTHER)))[1]["code"] == "cancelled"


@pytest.mark.parametrize(
    ("level", "path", "body", "before", "quota"),
    [
        pytest.param("diamond", LOUNGE, {"place": "kashgar"}, 5, 6, id="the sixth lounge visit of a diamond card"),
        pytest.param("gold", SIM, {}, 0, 1, id="the one free SIM replacement of a gold card"),
    ],
)  # fmt: skip
async def test_racing_for_the_last_use_records_it_once(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    level: str,
    path: str,
    body: dict[str, Any],
    before: int,
    quota: int,
) -> None:
    # rule V1: recording a use is atomic: thirty agents at once, one use left → one 201
    await grants.customer(conn, level=level, status="active")
    client = await aiohttp_client(create_app(settings))
    for _ in range(before):
        assert (await use(client, tokens.agent, path.format(GOLD), body))[0] == 201
    results = await asyncio.gather(*(use(client, tokens.agent, path.format(GOLD), body) for _ in range(30)))
    statuses = [s for s, _ in results]
    assert statuses.count(201) == 1 and statuses.count(409) == 29
    assert {b["code"] for s, b in results if s == 409} == {"quota_used"}
    assert await conn.fetchval("SELECT count(*) FROM benefit_uses") == quota


async def test_the_agents_view_lists_every_benefit_with_its_remaining_quota(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule V1 and rule E: every row of the service table and the lounges, counted or not
    await grants.customer(conn, status="active")
    client = await aiohttp_client(create_app(settings))
    await use(client, tokens.agent, LOUNGE.format(GOLD), {"place": "urumqi"})
    await use(client, tokens.agent, SIM.format(GOLD))
    status, view = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    assert status == 200
    items = {s["code"]: s for s in view["services"]["items"]}
    assert view["services"]["year"] == 2026
    assert {e["code"] for e in view["entitlements"]} | {"airport_lounge"} == set(items)
    assert (items["airport_lounge"]["quota"], items["airport_lounge"]["remaining"]) == (4, 3)
    assert len(items["airport_lounge"]["places"]) == 6
    assert (items["free_sim_replacement"]["used"], items["free_sim_replacement"]["remaining"]) == (1, 0)
    assert (items["priority_access"]["counted"], items["priority_access"]["remaining"]) == (False, None)
    assert view["services"]["recent_uses"][0]["benefit"] == "free_sim_replacement"
    assert view["points"] is None


@pytest.mark.parametrize(
    ("level", "joined", "status", "code"),
    [
        pytest.param("five_star", date(2026, 11, 20), 201, None, id="a VIP joins at once, in the first week"),
        pytest.param("two_star", date(2026, 8, 26), 201, None, id="three months in the network to the day"),
        pytest.param("two_star", date(2026, 8, 27), 409, "tenure_too_short", id="a day short of three months"),
        pytest.param("none", date(2026, 11, 1), 409, "tenure_too_short", id="no level, new in the network"),
    ],
)  # fmt: skip
async def test_joining_a_club_by_tenure(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    level: str,
    joined: date,
    status: int,
    code: str | None,
) -> None:
    # rule V2: VIPs join at once; others after 3 months in the network
    await province.subscriber(conn, GOLD, joined=joined)
    if level != "none":
        await grants.star(conn, GOLD, level)
    client = await aiohttp_client(create_app(settings))
    got, body = await grants.call(client, "POST", f"/v1/subscribers/{GOLD}/clubs/photography", tokens.agent)
    assert (got, body.get("code")) == (status, code)
    _, view = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    club = next(c for c in view["clubs"] if c["code"] == "photography")
    assert club["member"] is (status == 201)
    if code == "tenure_too_short":
        assert body["eligible_from"] == club["eligible_from"]
        assert "在网满3个月" in body["detail_zh"]


async def test_clubs_of_the_policy_and_joining_twice(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule V2: the eight clubs of S13; joining again keeps the first day; unknown clubs are 404
    await grants.customer(conn, level="diamond", status="active")
    client = await aiohttp_client(create_app(settings))
    first = await grants.call(client, "POST", f"/v1/subscribers/{GOLD}/clubs/car", tokens.agent)
    again = await grants.call(client, "POST", f"/v1/subscribers/{GOLD}/clubs/car", tokens.agent)
    assert (first[0], first[1]["new"], again[0], again[1]["new"]) == (201, True, 200, False)
    assert again[1]["joined_on"] == first[1]["joined_on"] == "2026-11-26"
    assert (await grants.call(client, "POST", f"/v1/subscribers/{GOLD}/clubs/golf", tokens.agent))[0] == 404
    assert (await grants.call(client, "POST", f"/v1/subscribers/{GOLD}/clubs/car", tokens.ivr))[0] == 403
    _, view = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    assert [c["code"] for c in view["clubs"]] == [
        "car", "health", "beauty", "sports", "parenting", "film", "photography", "iphone",
    ]  # fmt: skip
    assert [c["member"] for c in view["clubs"]] == [True] + [False] * 7
