"""The lookup's lane (`app.LookupLane`): `GET /v1/ivr/lookup` served before aiohttp's router
answers exactly what the app's own route and middleware answer — the same statuses,
bodies, problems, headers, metrics and screen-pop memory — while every other request still
goes through the app (SPEC §6 lookup contract, Q1–Q4)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware

from gateway.http.app import create_app
from gateway.settings import Settings
from tests.gateway.lookup_support import CANCELLED, FIVE, FOUR, ONE, evaluated_province

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# (query, token role or None, extra headers): what IVRs send, and what they get wrong.
CASES: list[tuple[dict[str, str], str | None, dict[str, str]]] = [
    ({"ani": FIVE, "dnis": "10010"}, "ivr", {}),
    ({"ani": f"+86{FOUR}", "call_id": "lane-call-1"}, "ivr", {}),
    ({"ani": ONE, "format": "kv"}, "ivr", {}),
    ({"ani": CANCELLED}, "ivr", {"Accept": "text/plain"}),
    ({"ani": "18699990000"}, "ivr", {}),  # a number callgate does not know
    ({"ani": "anonymous"}, "ivr", {}),
    ({"ani": "12345"}, "ivr", {}),  # invalid_number
    ({"ani": FIVE, "format": "xml"}, "ivr", {}),  # invalid_request
    ({"ani": FIVE, "call_id": "bad id with spaces"}, "ivr", {}),
    ({"ani": FIVE}, None, {}),  # unauthorized
    ({"ani": FIVE}, "agent", {}),  # forbidden
    ({"ani": FIVE}, "ivr", {"Authorization": "Bearer cg_ivr_notatokenatallnotatokenatall"}),
    ({"ani": FIVE}, "ivr", {"X-Request-Id": "acd-4711"}),
]


def seen_by_middleware(paths: list[str]) -> Middleware:
    """A middleware noting each request that reaches the app's middleware chain."""

    @web.middleware
    async def note(request: web.Request, handler: Handler) -> web.StreamResponse:
        paths.append(f"{request.method} {request.path}")
        return await handler(request)

    return note


@pytest.fixture
async def both(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]]]:
    """The same app twice: served by the edge (lane) and by aiohttp's plain runner (router and
    middleware only), each noting what reaches its middleware chain."""
    tokens = await evaluated_province(conn, database_url)
    edge_seen: list[str] = []
    plain_seen: list[str] = []
    edge_app, plain_app = create_app(settings), create_app(settings)
    edge_app.middlewares.append(seen_by_middleware(edge_seen))
    plain_app.middlewares.append(seen_by_middleware(plain_seen))
    edge = await aiohttp_client(edge_app)
    plain = TestClient(TestServer(plain_app))
    await plain.start_server()
    try:
        yield edge, plain, tokens, edge_seen, plain_seen
    finally:
        await plain.close()


async def ask(
    client: TestClient[Any, Any],
    tokens: dict[str, str],
    query: dict[str, str],
    role: str | None,
    extra: dict[str, str],
) -> tuple[int, str, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    headers.update(extra)
    response = await client.get("/v1/ivr/lookup", params=query, headers=headers)
    body = await response.text()
    kept = {
        k.lower(): v
        for k, v in response.headers.items()
        if k.lower() not in ("date", "x-request-id", "server")
    }
    return response.status, response.content_type, body, kept


async def test_the_lane_answers_as_the_route_and_middleware_do(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
) -> None:
    # rule Q1 and rule Q4: every answer and every refusal of the lookup is the same through the lane
    edge, plain, tokens, edge_seen, plain_seen = both
    for query, role, extra in CASES:  # a first round fills the cache (a miss answers from PostgreSQL)
        await ask(edge, tokens, query, role, extra)
        await ask(plain, tokens, query, role, extra)
    for query, role, extra in CASES:
        ours = await ask(edge, tokens, query, role, extra)
        theirs = await ask(plain, tokens, query, role, extra)
        assert ours == theirs, (query, role, extra)
    statuses = {(await ask(edge, tokens, q, r, e))[0] for q, r, e in CASES}
    assert statuses == {200, 400, 401, 403}
    # The lane served every lookup: none reached the edge app's middleware; all reached the plain one's.
    assert not [p for p in edge_seen if p.endswith("/v1/ivr/lookup")]
    admitted = [c for c in CASES if c[1] is not None and "Authorization" not in c[2]]  # 401s stop earlier
    assert len([p for p in plain_seen if p == "GET /v1/ivr/lookup"]) == 2 * len(admitted)
    # The request id: the ACD's own when well formed, else a fresh one; both echoed.
    response = await edge.get(
        "/v1/ivr/lookup",
        params={"ani": FIVE},
        headers={"Authorization": f"Bearer {tokens['ivr']}", "X-Request-Id": "acd-4711"},
    )
    assert response.headers["X-Request-Id"] == "acd-4711"
    response = await edge.get(
        "/v1/ivr/lookup", params={"ani": FIVE}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
    )
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", response.headers["X-Request-Id"])
    # The screen pop remembers a call looked up through the lane (GET /v1/calls/{id}).
    response = await edge.get("/v1/calls/lane-call-1", headers={"Authorization": f"Bearer {tokens['ivr']}"})
    assert response.status == 200 and (await response.json())["msisdn"] == FOUR


async def test_the_lane_counts_as_the_middleware_counts(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
) -> None:
    # rule Q1: the lookup's requests are counted by route and status through the lane as before
    edge, plain, tokens, _, _ = both
    for query, role, extra in CASES:
        await ask(edge, tokens, query, role, extra)
        await ask(plain, tokens, query, role, extra)

    async def counted(client: TestClient[Any, Any]) -> dict[str, float]:
        text = await (await client.get("/metrics")).text()
        pattern = r'^callgate_http_requests_total\{route="/v1/ivr/lookup",status="(\d+)"\} (\S+)$'
        return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.MULTILINE)}

    ours = await counted(edge)
    assert ours == await counted(plain)
    assert ours["200"] >= 6 and ours["401"] == 2 and ours["403"] == 1


async def test_everything_else_still_goes_through_the_app(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
) -> None:
    # rule Q1: HEAD, other methods, a trailing slash and other routes are the app's, as before
    edge, plain, tokens, edge_seen, _ = both
    auth = {"Authorization": f"Bearer {tokens['ivr']}"}
    for method, path in (("HEAD", "/v1/ivr/lookup"), ("POST", "/v1/ivr/lookup"), ("GET", "/v1/ivr/lookup/")):
        ours = await edge.request(method, path, params={"ani": FIVE}, headers=auth)
        theirs = await plain.request(method, path, params={"ani": FIVE}, headers=auth)
        assert (ours.status, ours.content_type) == (theirs.status, theirs.content_type), (method, path)
        assert f"{method} {path}" in edge_seen
    ours = await edge.request("POST", "/v1/ivr/lookup", headers=auth)
    assert ours.status == 405 and (await ours.json())["code"] == "method_not_allowed"
    assert (await edge.get("/healthz")).status == 200 and "GET /healthz" in edge_seen


async def raw_exchange(port: int, requests: list[bytes]) -> list[tuple[list[str], bytes]]:
    """Send requests one by one on one kept-alive connection; each answer's head lines and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for data in requests:
            writer.write(data)
            await writer.drain()
            async with asyncio.timeout(30):  # a guard against a hang, not a speed check
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]
                length = next(int(h.split(":")[1]) for h in head if h.lower().startswith("content-length:"))
                answers.append((head, await reader.readexactly(length)))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return answers


def normalised(head: list[str]) -> list[str]:
    """Head lines with the values that differ between any two answers (time, request id) blanked."""
    return [h.split(":")[0] + ": *" if h.lower().startswith(("date:", "x-request-id:")) else h for h in head]


async def test_the_lane_writes_the_bytes_aiohttp_writes(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
) -> None:
    # rule Q1: the lane's whole answer is byte for byte aiohttp's (header order included), and the
    # connection stays usable for the ACD's next lookup
    edge, plain, tokens, _, _ = both
    auth = f"Authorization: Bearer {tokens['ivr']}"
    asks = [
        f"GET /v1/ivr/lookup?ani={ani}{extra} HTTP/1.1\r\nHost: callgate.test\r\n{auth}\r\n\r\n".encode()
        for ani, extra in ((FIVE, ""), (FOUR, "&format=kv"), (ONE, "&call_id=lane-raw-1"), ("12345", ""))
    ]
    edge_port, plain_port = edge.server.port, plain.server.port
    assert edge_port is not None and plain_port is not None
    await raw_exchange(plain_port, asks)  # fills the cache
    ours = await raw_exchange(edge_port, asks)
    theirs = await raw_exchange(plain_port, asks)
    assert [(normalised(h), b) for h, b in ours] == [(normalised(h), b) for h, b in theirs]
    assert [h[0] for h, _ in ours] == ["HTTP/1.1 200 OK"] * 3 + ["HTTP/1.1 400 Bad Request"]
    # HTTP/1.0 and Connection: close are answered by aiohttp itself (and the connection closed).
    for version, header in (("1.0", ""), ("1.1", "Connection: close\r\n")):
        data = f"GET /v1/ivr/lookup?ani={FIVE} HTTP/{version}\r\nHost: x\r\n{header}{auth}\r\n\r\n".encode()
        (mine,) = await raw_exchange(edge_port, [data])
        (aiohttps,) = await raw_exchange(plain_port, [data])
        assert (normalised(mine[0]), mine[1]) == (normalised(aiohttps[0]), aiohttps[1])
