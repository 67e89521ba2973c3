"""GET /v1/audit (R11) and the OpenAPI entries of the issue-6 routes."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.http.app import create_app
from gateway.http.openapi import document
from gateway.settings import Settings
from tests.gateway import grants
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens


async def test_admins_query_every_decision(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule R11: granted and refused decisions, with actor, channel, code and masked number
    await grants.customer(conn)
    await grants.customer(conn, OTHER, level="two_star")
    client = await aiohttp_client(create_app(settings))
    assert (await grants.reactivate(client, tokens.ivr, "a", grants.reactivation_body(channel="ivr")))[
        0
    ] == 201
    assert (await grants.reactivate(client, tokens.agent, "b"))[0] == 409  # not_suspended now
    assert (await grants.reactivate(client, tokens.agent, "c", grants.reactivation_body(OTHER)))[0] == 409
    status, body = await grants.call(client, "GET", f"/v1/audit?msisdn=%2B86{GOLD}", tokens.admin)
    assert status == 200
    got = [(i["action"], i["outcome"], i["code"], i["role"], i["channel"]) for i in body["items"]]
    assert got == [
        ("reactivation", "refused", "not_suspended", "agent", "agent"),
        ("reactivation", "granted", None, "ivr", "ivr"),
    ]
    assert {i["msisdn_masked"] for i in body["items"]} == {"186****6001"}
    assert all(i["actor"] and i["at"] for i in body["items"])
    assert GOLD not in str(body)

    _, everything = await grants.call(client, "GET", "/v1/audit", tokens.admin)
    assert len(everything["items"]) == 3 and everything["next_before"] is None
    _, page = await grants.call(client, "GET", "/v1/audit?limit=2", tokens.admin)
    assert len(page["items"]) == 2 and page["next_before"] == page["items"][-1]["id"]
    _, rest = await grants.call(
        client, "GET", f"/v1/audit?limit=2&before={page['next_before']}", tokens.admin
    )
    assert [i["id"] for i in rest["items"]] == [everything["items"][-1]["id"]]
    _, later = await grants.call(client, "GET", "/v1/audit?since=2026-11-26T10:00:01%2B08:00", tokens.admin)
    assert later["items"] == []
    _, since = await grants.call(
        client, "GET", "/v1/audit?since=2026-11-26T02:00:00Z&action=reactivation", tokens.admin
    )
    assert len(since["items"]) == 3


@pytest.mark.parametrize(
    ("query", "token", "status", "code"),
    [
        pytest.param("", "agent", 403, "forbidden", id="agents cannot read the audit log"),
        pytest.param("", "zz_city", 403, "forbidden", id="branch staff cannot read the audit log"),
        pytest.param("?since=yesterday", "admin", 400, "invalid_request", id="since must be an ISO time"),
        pytest.param("?msisdn=12", "admin", 400, "invalid_number", id="a malformed number"),
        pytest.param("?limit=0", "admin", 400, "invalid_request", id="limit must be positive"),
    ],
)
async def test_audit_errors(
    aiohttp_client: ClientFactory,
    settings: Settings,
    tokens: Tokens,
    query: str,
    token: str,
    status: int,
    code: str,
) -> None:
    client = await aiohttp_client(create_app(settings))
    got, body = await grants.call(client, "GET", f"/v1/audit{query}", getattr(tokens, token))
    assert (got, body["code"]) == (status, code)


MY_ROUTES = {
    ("/v1/reactivations", "post"),
    ("/v1/credit/authorize", "post"),
    ("/v1/payments", "post"),
    ("/v1/subscribers/{msisdn}", "get"),
    ("/v1/subscribers/{msisdn}/status", "post"),
    ("/v1/work-orders", "get"),
    ("/v1/work-orders/{id}", "get"),
    ("/v1/work-orders/{id}/events", "post"),
    ("/v1/audit", "get"),
}


def test_every_route_of_issue_6_is_documented(settings: Settings) -> None:
    app = create_app(settings)
    registered = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert registered >= MY_ROUTES
    paths = document()["paths"]
    for path, method in MY_ROUTES:
        operation = paths[path][method]
        assert operation["summary"] and "401" in operation["responses"]
        ok = next(code for code in operation["responses"] if code.startswith("2"))
        assert "content" in operation["responses"][ok]
        problems = [r for c, r in operation["responses"].items() if c.startswith("4")]
        assert all("application/problem+json" in r["content"] for r in problems)
