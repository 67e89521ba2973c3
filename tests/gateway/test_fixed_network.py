"""C2 (T3.6) through the service: a Henan fixed-network card (fixed line or broadband) is
served at its level's priority but gets only the two fixed-network benefits — no customer
manager, no emergency reactivation — in the IVR lookup and in the agent's view alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.services.tokens import create_token
from gateway.settings import Settings
from tests.gateway import province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
MOBILE, BROADBAND, FIXED = "18612340301", "037165432101", "037165432102"
POLICY = "unicom-henan-2011"


async def _diamond(conn: asyncpg.Connection, msisdn: str, service_type: str, manager: int) -> None:
    network = "3g" if service_type == "mobile" else None
    await conn.execute(
        """INSERT INTO subscribers (msisdn, service_type, network, payment_mode, status, joined_on,
                                    city_code, county_code, manager_id)
           VALUES ($1, $2, $3, 'postpaid', 'suspended', '2020-01-10', 'HA-ZZ', 'HA-ZZ-ZM', $4)""",
        msisdn, service_type, network, manager,
    )  # fmt: skip
    await province.bills(conn, msisdn, "2025-09", "2026-10", 500, unpaid_from="2026-10")
    # a diamond card imported from the BSS, valid through next year (T3.5)
    await conn.execute(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
                                         change, effective_from, valid_until, source)
           VALUES ($1, $2, '2026-10-01', 'import', 'vip_card', 'diamond', 'import', '2026-10-08',
                   '2027-10-08', 'import')""",
        msisdn, POLICY,
    )  # fmt: skip


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection
) -> tuple[TestClient[Any, Any], dict[str, str]]:
    await province.branches(conn)
    manager = await conn.fetchval(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ('王丽', '18600001111', 'HA-ZZ') RETURNING id"
    )
    for msisdn, service_type in ((MOBILE, "mobile"), (BROADBAND, "broadband"), (FIXED, "fixed")):
        await _diamond(conn, msisdn, service_type, manager)
    tokens = {role: (await create_token(conn, role))[1] for role in ("ivr", "agent")}
    app = create_app(dataclasses.replace(settings, policy=POLICY))
    return await aiohttp_client(app), tokens


@pytest.mark.parametrize(
    "msisdn",
    [
        pytest.param(
            BROADBAND, id="C2 T3.6: a broadband diamond card gets only priority access and the hall"
        ),
        pytest.param(FIXED, id="C2 T3.6: a fixed-line diamond card gets only priority access and the hall"),
    ],
)
async def test_fixed_network_cards_get_only_the_fixed_network_benefits(
    client: tuple[TestClient[Any, Any], dict[str, str]], msisdn: str
) -> None:
    http, tokens = client
    response = await http.get(
        "/v1/ivr/lookup", params={"ani": msisdn}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
    )
    answer = await response.json()
    assert response.status == 200
    assert answer["tier"]["level"] == "diamond"
    assert answer["queue"]["name"] == "vip"  # still served at the card's priority
    assert set(answer["entitlements"]) <= {"priority_access", "priority_hall"}
    assert answer["manager"] is None
    assert answer["reactivation"]["eligible"] is False
    assert answer["reactivation"]["code"] == "not_entitled"

    view = await http.get(f"/v1/subscribers/{msisdn}", headers={"Authorization": f"Bearer {tokens['agent']}"})
    body = await view.json()
    beyond = {e["code"] for e in body["entitlements"] if e["beyond_standard"]}
    assert beyond <= {"priority_access", "priority_hall"}
    assert body["manager"]["entitled"] is False


async def test_a_mobile_diamond_card_keeps_the_mobile_service_table(
    client: tuple[TestClient[Any, Any], dict[str, str]],
) -> None:
    http, tokens = client
    response = await http.get(
        "/v1/ivr/lookup", params={"ani": MOBILE}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
    )
    answer = await response.json()
    assert answer["tier"]["level"] == "diamond"
    assert set(answer["entitlements"]) - {"priority_access", "priority_hall"}, (
        "mobile benefits beyond the two"
    )
    assert answer["manager"] is not None
    assert answer["reactivation"]["eligible"] is True
