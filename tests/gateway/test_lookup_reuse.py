"""The lookup reuses the part of an answer built from a record: the reuse must follow
everything that part is built from — a province's R7 limit, a manager's contact."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from gateway.http.app import create_app
from gateway.http.keys import LOOKUP, POLICY
from gateway.services.tokens import create_token
from gateway.settings import Settings
from tests.gateway import province
from tests.gateway.lookup_support import FIVE, TODAY, evaluated_province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
THREE_MONTHS, FOUR_MONTHS = "18612340201", "18612340202"


@pytest.mark.parametrize(
    "order",
    [[THREE_MONTHS, FOUR_MONTHS], [FOUR_MONTHS, THREE_MONTHS]],
    ids=[
        "three months in arrears asks first, then four months",
        "four months in arrears asks first, then three months",
    ],
)
async def test_a_province_limit_of_four_months_tells_three_and_four_months_apart(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
    order: list[str],
) -> None:
    # rule R7: refused from 4 months in arrears in this province (the national file says 2)
    override = tmp_path / "province.toml"
    override.write_text("[reactivation.arrears]\nrefuse_at_months = 4\n")
    await province.branches(conn)
    # postpaid, suspended, four-star (gold terms: 48 hours), unpaid since August or July
    for msisdn, unpaid_from in ((THREE_MONTHS, "2026-08"), (FOUR_MONTHS, "2026-07")):
        await province.subscriber(conn, msisdn, status="suspended")
        await province.bills(conn, msisdn, "2025-09", "2026-10", 110, unpaid_from=unpaid_from)
    await evaluation.run(
        conn, load_policy("unicom-2015", override), Month.parse("2026-10"), TODAY,
        dsn=database_url, redis_url=None, workers=1, show_progress=False,
    )  # fmt: skip
    token = (await create_token(conn, "ivr"))[1]
    client = await aiohttp_client(create_app(dataclasses.replace(settings, policy_override=override)))

    async def reactivation(msisdn: str) -> dict[str, Any]:
        response = await client.get(
            "/v1/ivr/lookup", params={"ani": msisdn}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 200
        body = await response.json()
        assert body["tier"]["level"] == "four_star"
        return dict(body["reactivation"])

    for _ in range(2):  # from PostgreSQL, then again (from the cache once the fill has landed)
        seen = {msisdn: await reactivation(msisdn) for msisdn in order}
        assert (seen[THREE_MONTHS]["eligible"], seen[THREE_MONTHS]["mode"]) == (True, "postpaid_48h")
        assert (seen[FOUR_MONTHS]["eligible"], seen[FOUR_MONTHS]["code"]) == (False, "arrears_too_long")


async def test_a_reloaded_manager_contact_reaches_answers_built_before_it(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    # rule Q3: the five-star caller's manager, as the minute's reload last read it
    tokens = await evaluated_province(conn, database_url)
    app = create_app(settings)
    client = await aiohttp_client(app)

    async def manager() -> tuple[str, dict[str, str]]:
        response = await client.get(
            "/v1/ivr/lookup", params={"ani": FIVE}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
        )
        body = await response.json()
        return body["source"], body["manager"]

    for _ in range(200):  # until the miss's fill has landed and the answer comes from the cache
        source, contact = await manager()
        if source == "cache":
            break
        await asyncio.sleep(0.01)
    assert source == "cache" and contact["phone"] == "18600001111"
    await conn.execute("UPDATE customer_managers SET phone = '18600002222'")
    await app[LOOKUP].load_managers()
    source, contact = await manager()
    assert (source, contact["name"], contact["phone"]) == ("cache", "王丽", "18600002222")


async def test_a_replaced_policy_reaches_answers_built_before_it(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
) -> None:
    # rule Q2 (O2): a province raises the five-star priority; cached answers built from the
    # old policy are not served once the new one is in force
    tokens = await evaluated_province(conn, database_url)
    app = create_app(settings)
    client = await aiohttp_client(app)

    async def queue() -> tuple[str, dict[str, Any]]:
        response = await client.get(
            "/v1/ivr/lookup", params={"ani": FIVE}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
        )
        body = await response.json()
        return body["source"], body["queue"]

    for _ in range(200):  # until the answer comes from the cache (and its fragment is reused)
        source, routed = await queue()
        if source == "cache":
            break
        await asyncio.sleep(0.01)
    assert (source, routed) == ("cache", {"name": "vip", "priority": 30})
    override = tmp_path / "province.toml"
    override.write_text('[routing.star]\nfive_star = { queue = "vip", priority = 35 }\n')
    app[POLICY].replace(load_policy("unicom-2015", override))
    assert await queue() == ("cache", {"name": "vip", "priority": 35})
