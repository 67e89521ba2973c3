"""GET /v1/subscribers/{msisdn}: the agent's view of one customer, from a real evaluation."""

from __future__ import annotations

from datetime import date

import asyncpg
import orjson
import pytest

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from gateway.http.app import create_app
from gateway.settings import Settings
from tests.gateway import grants, province
from tests.gateway.grants import GOLD, ClientFactory, Tokens

POLICY = load_policy("unicom-2015")
TODAY = date(2026, 11, 26)


@pytest.fixture
async def evaluated(conn: asyncpg.Connection, database_url: str, redis_url: str) -> Tokens:
    """A five-star postpaid customer with a manager, rated in October and held in November."""
    await province.branches(conn)
    manager = await conn.fetchval(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ('李经理', '10018001', 'HA-ZZ') RETURNING id"
    )
    await province.subscriber(conn, GOLD, manager_id=manager)
    await province.bills(conn, GOLD, "2025-09", "2026-10", 300, unpaid_from="2026-10")
    for month in ("2026-10", "2026-11"):
        await evaluation.run(
            conn, POLICY, Month.parse(month), TODAY, dsn=database_url, redis_url=redis_url, workers=1,
            show_progress=False,
        )  # fmt: skip
    return await grants.tokens(conn)


async def test_the_agent_sees_everything_about_a_customer(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, evaluated: Tokens
) -> None:
    # rule E, rule Q3, rule T1.6
    tokens = evaluated
    client = await aiohttp_client(create_app(settings))
    response = await client.get(f"/v1/subscribers/{GOLD}", headers=grants.bearer(tokens.agent))
    assert response.status == 200
    text = await response.text()
    assert GOLD not in text  # masked unless revealed
    view = orjson.loads(text)
    assert view["msisdn_masked"] == "186****6001" and "msisdn" not in view["profile"]
    profile = view["profile"]
    assert profile["city"] == {"code": "HA-ZZ", "name": "郑州"} and profile["payment_mode"] == "postpaid"
    assert profile["tenure_months"] == 83  # rule T1.3: January 2020 is month 1
    tier = view["tier"]
    assert (tier["scheme"], tier["level"], tier["valid_until"]) == ("star", "five_star", "2027-10-31")
    assert tier["name_en"] and tier["name_zh"] and tier["effective_from"] == "2026-11-01"
    explanation = view["explanation"]
    assert explanation["in_force"]["evaluated_month"] == "2026-11"  # the latest run: held (T1.9)
    assert explanation["in_force"]["change"] == "held"
    assert explanation["in_force"]["data"]["figures"]["arpu_yuan"]
    assert "ARPU" in explanation["in_force"]["text_zh"] and "ARPU" in explanation["in_force"]["text_en"]
    assert explanation["pending"] is None
    assert explanation["text_en"].startswith("186****6001: current level")
    codes = {b["code"]: b for b in view["entitlements"]}
    assert codes["emergency_reactivation"]["value"] == "yes" and codes["emergency_reactivation"]["name_zh"]
    assert codes["customer_manager"]["value"] == "yes"
    assert view["queue"]["name"] == "vip"
    assert view["manager"] == {
        "id": 1,
        "name": "李经理",
        "phone": "10018001",
        "city_code": "HA-ZZ",
        "entitled": True,
    }
    assert view["account"]["arrears_months"] == 1 and view["account"]["outstanding_yuan"] == "300.00"
    assert view["account"]["bills"][0] == {"month": "2026-10", "billed_yuan": "300.00", "paid_yuan": "0.00"}
    # rule R2: an active customer is not reactivated — the preview says so before anyone asks
    assert view["reactivation"]["eligible"] is False and view["reactivation"]["code"] == "not_suspended"
    assert view["reactivation"]["reason_en"]
    assert view["verification"] == {"password_set": False, "remaining_attempts": 5, "locked_until": None}
    assert view["reactivations"] == [] and view["work_orders"] == [] and view["credit"] is None


async def test_the_view_shows_the_grant_and_its_open_order(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, evaluated: Tokens
) -> None:
    # rule R6, rule R10
    tokens = evaluated
    await conn.execute("UPDATE subscribers SET status = 'suspended'")
    client = await aiohttp_client(create_app(settings))
    _, before = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    preview = before["reactivation"]
    assert (preview["eligible"], preview["mode"], preview["hours"], preview["code"]) == (
        True,
        "postpaid_48h",
        48,
        None,
    )
    status, grant = await grants.reactivate(client, tokens.agent, "k")
    assert status == 201
    _, view = await grants.call(client, "GET", f"/v1/subscribers/{GOLD}", tokens.agent)
    assert [h["id"] for h in view["reactivations"]] == [grant["id"]]
    assert view["reactivations"][0]["work_order_status"] == "new"
    assert [o["id"] for o in view["work_orders"]] == [grant["work_order_id"]]
    assert view["reactivation"]["code"] == "not_suspended" and view["reactivation"]["grants_this_month"] == 1


async def test_revealing_the_number_is_audited(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, evaluated: Tokens
) -> None:
    tokens = evaluated
    client = await aiohttp_client(create_app(settings))
    status, view = await grants.call(client, "GET", f"/v1/subscribers/+86{GOLD}?reveal=1", tokens.agent)
    assert status == 200 and view["profile"]["msisdn"] == GOLD
    row = await grants.row(conn, "SELECT * FROM audit_log WHERE action = 'reveal'")
    assert row["actor"].startswith("agent:") and row["msisdn_mask"] == "186****6001"


@pytest.mark.parametrize(
    ("number", "token", "status", "code"),
    [
        pytest.param("18612349999", "agent", 404, "unknown_subscriber", id="an unknown number is a 404"),
        pytest.param("1861234", "agent", 400, "invalid_number", id="a malformed number is a 400"),
        pytest.param(GOLD, "ivr", 403, "forbidden", id="the ivr role has no agent view"),
        pytest.param(GOLD, "zz_city", 403, "forbidden", id="branch staff have no agent view"),
    ],
)
async def test_view_errors(
    aiohttp_client: ClientFactory,
    settings: Settings,
    evaluated: Tokens,
    number: str,
    token: str,
    status: int,
    code: str,
) -> None:
    client = await aiohttp_client(create_app(settings))
    got, body = await grants.call(client, "GET", f"/v1/subscribers/{number}", getattr(evaluated, token))
    assert (got, body["code"]) == (status, code)
