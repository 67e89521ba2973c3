"""Red-team findings 6b and 6c: problem+json bodies never echo number-shaped input, and an
Idempotency-Key belongs to the token that used it (another token replaying the same key
and body gets its own decision, never someone else's answer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.services.tokens import create_token
from gateway.settings import Settings
from tests.gateway import grants, province
from tests.gateway.grants import Tokens

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
NUMBER = "13800138000"


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection
) -> tuple[TestClient[Any, Any], Tokens]:
    await province.branches(conn)
    tokens = await grants.tokens(conn)
    await grants.customer(conn)
    return await aiohttp_client(create_app(settings)), tokens


@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        pytest.param("POST", "/v1/payments", {"msisdn": grants.GOLD, "amount_yuan": NUMBER + "x"}, "admin",
                     id="a bad amount is not quoted back"),
        pytest.param("POST", "/v1/credit/authorize", {"msisdn": grants.GOLD, "amount_yuan": NUMBER + ".123",
                     "ref": "r1"}, "ivr", id="a bad credit amount is not quoted back"),
        pytest.param("GET", f"/v1/work-orders?branch={NUMBER}", None, "admin", id="an unknown branch is not quoted back"),
        pytest.param("GET", f"/v1/work-orders?status={NUMBER}", None, "admin", id="an unknown status is not quoted back"),
        pytest.param("GET", f"/v1/work-orders/{NUMBER}", None, "admin", id="a work-order id is not quoted back"),
        pytest.param("POST", f"/v1/work-orders/{NUMBER}/events", {"kind": "remind"}, "admin",
                     id="a work-order id in an event is not quoted back"),
    ],
)  # fmt: skip
async def test_problem_bodies_do_not_echo_number_shaped_input(
    client: tuple[TestClient[Any, Any], Tokens], method: str, path: str, body: Any, role: str
) -> None:
    http, tokens = client
    status, answer = await grants.call(http, method, path, getattr(tokens, role), body)
    assert 400 <= status < 500
    assert answer["code"], answer
    text = str(answer)
    assert NUMBER not in text
    assert NUMBER[:7] not in text  # not even a prefix long enough to identify it


async def test_another_token_replaying_a_key_gets_its_own_decision(
    client: tuple[TestClient[Any, Any], Tokens], conn: asyncpg.Connection
) -> None:
    # rule R3: the first agent's grant is this month's; a second agent token sending the same
    # key and body is a new request (refused: already reactivated), not a replay of the 201
    http, tokens = client
    _, other_agent = await create_token(conn, "agent", None, "second desk")
    first = await grants.reactivate(http, tokens.agent, "shared-key")
    assert first[0] == 201
    response = await http.post(
        "/v1/reactivations",
        json=grants.reactivation_body(),
        headers={**grants.bearer(other_agent), "Idempotency-Key": "shared-key"},
    )
    answer = await response.json(content_type=None)
    assert "Idempotent-Replayed" not in response.headers
    assert response.status == 409 and answer["code"] in ("not_suspended", "monthly_limit")
    assert answer != first[1]
    # the first token still replays its own answer
    again = await http.post(
        "/v1/reactivations",
        json=grants.reactivation_body(),
        headers={**grants.bearer(tokens.agent), "Idempotency-Key": "shared-key"},
    )
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == first[1]
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1
