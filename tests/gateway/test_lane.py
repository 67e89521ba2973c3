"""The lookup's lane (`gateway.http.lane`): `GET /v1/ivr/lookup` answered from the
connection's bytes answers exactly what the app's own route and middleware answer — the
same statuses, bodies, problems, headers, bytes, metrics and screen-pop memory — while
every other request, and every request after one the lane does not take, goes through
aiohttp and the app (SPEC §6 lookup contract, Q1–Q4)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from gateway.http import lane as lane_module
from gateway.http.app import create_app
from gateway.services.lookup import LookupService
from gateway.settings import Settings
from tests.conftest import EdgeTestServer
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
    # The lane served every lookup (aiohttp's client percent-encodes '+86' and spaces: decoded
    # as aiohttp decodes them): none reached the edge app's middleware; all reached the plain one's.
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


RawAnswer = tuple[list[str], bytes]  # an answer's head lines and body


async def read_answer(reader: asyncio.StreamReader) -> RawAnswer | None:
    """The next answer on a connection (None: the server closed it instead)."""
    async with asyncio.timeout(30):  # a guard against a hang, not a speed check
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]
        except asyncio.IncompleteReadError:
            return None
        length = next(int(h.split(":")[1]) for h in head if h.lower().startswith("content-length:"))
        return head, await reader.readexactly(length)


async def raw_exchange(port: int, requests: list[bytes]) -> list[RawAnswer]:
    """Send requests one by one on one kept-alive connection; each answer's head lines and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for data in requests:
            writer.write(data)
            await writer.drain()
            answer = await read_answer(reader)
            assert answer is not None, data
            answers.append(answer)
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


def lookup(tokens: dict[str, str], query: str, extra: str = "") -> bytes:
    """A lookup's bytes, as an IVR sends it on a kept-alive connection."""
    return (
        f"GET /v1/ivr/lookup?{query} HTTP/1.1\r\nHost: callgate.test\r\n"
        f"Authorization: Bearer {tokens['ivr']}\r\n{extra}\r\n"
    ).encode()


async def test_a_connection_of_lookups_is_the_lanes_until_it_carries_anything_else(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
) -> None:
    # rule Q1: lookups (percent-encoded and kept-alive ones too) never reach the app's chain
    # while the connection carries only lookups; after any other request, aiohttp reads it
    edge, _, tokens, edge_seen, _ = both
    port = edge.server.port
    assert port is not None
    asks = [
        lookup(tokens, f"ani={FIVE}&dnis=10010"),
        lookup(tokens, f"ani=%2B86{FOUR}&call_id=lane-pct-1"),
        lookup(tokens, f"ani={ONE}&format=kv", "Connection: keep-alive\r\n"),
        lookup(tokens, "ani=12345"),
    ]
    answers = await raw_exchange(port, [*asks, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", asks[0]])
    assert [h[0] for h, _ in answers] == ["HTTP/1.1 200 OK"] * 3 + ["HTTP/1.1 400 Bad Request"] + [
        "HTTP/1.1 200 OK"
    ] * 2
    assert b'"msisdn":"+86' + FOUR.encode() in answers[1][1] or FOUR.encode() in answers[1][1]
    assert edge_seen == ["GET /healthz", "GET /v1/ivr/lookup"]  # only what came after /healthz


async def read_answers(reader: asyncio.StreamReader, n: int) -> list[bytes]:
    """The bodies of the next n answers on a connection."""
    bodies = []
    for _ in range(n):
        answer = await read_answer(reader)
        assert answer is not None
        bodies.append(answer[1])
    return bodies


def slow_lookups(
    monkeypatch: pytest.MonkeyPatch, seconds: float, started: asyncio.Event | None = None
) -> None:
    """Every lookup `seconds` late (then the real one); `started` is set when one begins."""
    real = LookupService.lookup

    async def slow(self: LookupService, msisdn: str) -> Any:
        if started is not None:
            started.set()
        await asyncio.sleep(seconds)
        return await real(self, msisdn)

    monkeypatch.setattr(LookupService, "lookup", slow)


async def test_answers_keep_the_order_of_lookups_sent_before_the_last_was_answered(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
) -> None:
    # rule Q1: an IVR that sends its next lookups before reading gets each answer in order —
    # sent in separate writes (held while the lane answers) or in one (pipelined: aiohttp's)
    edge, plain, tokens, _, _ = both
    numbers = [FIVE, FOUR, ONE, FIVE, ONE]
    for port in (edge.server.port, plain.server.port):
        assert port is not None
        for together in (False, True):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                asks = [lookup(tokens, f"ani={n}") for n in numbers]
                if together:
                    writer.write(b"".join(asks))
                else:
                    for data in asks:
                        writer.write(data)
                        await writer.drain()
                        await asyncio.sleep(0)
                bodies = await read_answers(reader, len(asks))
            finally:
                writer.close()
            assert [orjson.loads(b)["tier"] is not None for b in bodies] == [True] * len(numbers)
            assert [orjson.loads(b)["msisdn"] for b in bodies] == [
                orjson.loads(bodies[i])["msisdn"] for i in (0, 1, 2, 0, 2)
            ]
            assert len({orjson.loads(b)["msisdn"] for b in bodies}) == 3


async def test_an_idle_lane_connection_is_closed_after_the_keepalive_timeout(
    settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    # rule Q1: a kept-alive connection of lookups is closed when idle, as aiohttp closes its own
    tokens = await evaluated_province(conn, database_url)
    edge = EdgeTestServer(create_app(settings))
    await edge.start_server(keepalive_timeout=1.5)
    assert edge.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        # Answered lookups keep it open past the timer set when it opened (3 × 0.6 s > 1.5 s):
        # each is activity.
        for _ in range(3):
            writer.write(lookup(tokens, f"ani={FIVE}"))
            assert len(await read_answers(reader, 1)) == 1
            await asyncio.sleep(0.6)
        async with asyncio.timeout(10):  # idle from here: closed by the server
            assert await reader.read() == b""
    finally:
        writer.close()
        await edge.close()


_PARAMS = st.sampled_from(
    [
        f"ani={FIVE}",
        f"ani=%2B86{FOUR}",
        f"ani=+86{ONE}",
        f"ani=0086{FIVE}",
        "ani=anonymous",
        "ani=",
        "ani=12345",
        "ani=1300011920%39",
        "ani=%E4%B8%AD",
        "ani=%zz",
        "dnis=10010",
        "format=kv",
        "format=xml",
        "call_id=lane-h-1",
        "call_id=a%20b",
        "call_id=x;y",
        "x",
        "",
        "a=b=c",
        "q=1#frag",
        'q="x"',
        "q=a b",
    ]
)
# Headers an IVR sends (the lane takes them) and headers it must leave to aiohttp.
_USUAL = st.sampled_from(
    [
        "X-Request-Id: acd-1",
        "X-Request-Id: bad id",
        "Accept: text/plain",
        "Accept: application/json, text/plain",
        "Accept-Encoding: gzip, deflate",
        "User-Agent: acd/1.0",
        "Connection: keep-alive",
        "Connection: Keep-Alive",
        "X-Forwarded-For: 10.0.0.1",
        "Cache-Control: no-cache",
        "Accept-Language:   zh-CN  ",
    ]
)
_ODD = st.sampled_from(
    [
        "Connection: close",
        "Proxy-Connection: close",
        "Sec-WebSocket-Key1: a",
        "Content-Encoding: gzip",
        "Content-Length: 0",
        "Content-Type: text/plain",
        "X-Odd: a\tb",
        "X-Pad:   padded  ",
        "X-Empty:",
        "Bad Name: x",
        " folded",
        "NoColon",
        "X-Del: a\x7fb",
        "Host: second.test",
        "Authorization: Bearer cg_ivr_notatokenatallnotatokenatall",
    ]
)


@pytest.fixture
async def laneless(settings: Settings) -> AsyncIterator[EdgeTestServer]:
    """The edge without the lane: every request read by aiohttp (its parser's refusals are
    the edge's problem+json, as with the lane)."""
    server = EdgeTestServer(create_app(settings))
    await server.start_server(lane=False)
    try:
        yield server
    finally:
        await server.close()


_PLAIN_OR_ESCAPED = re.compile(r"[A-Za-z0-9._~=:@!$'()*,/?%+;-]*")  # no '#', quote or space


def _normalised_answer(answer: RawAnswer | None) -> RawAnswer | None:
    return None if answer is None else (normalised(answer[0]), answer[1])


async def _one_then_another(port: int, first: bytes, second: bytes) -> list[RawAnswer | None]:
    """The answer to `first` and, if the connection stays open, to `second` (None: closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[RawAnswer | None] = []
    try:
        for data in (first, second):
            writer.write(data)
            answer = await read_answer(reader)
            answers.append(answer)
            if answer is None or any(h.lower() == "connection: close" for h in answer[0]):
                break
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return answers


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_request_gets_from_the_edge_what_aiohttp_and_the_app_answer(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
    laneless: EdgeTestServer,
    data: st.DataObject,
) -> None:
    # rule Q1: whatever the lane takes, it answers byte for byte as aiohttp and the app do, and
    # whatever it does not take is aiohttp's — lookups as IVRs send them, and near-lookups with
    # odd methods, paths, versions, queries and headers
    edge, _, tokens, edge_seen, _ = both
    edge_port, plain_port = edge.server.port, laneless.port
    assert edge_port is not None and plain_port is not None
    usual = data.draw(st.booleans(), label="as an IVR sends it")
    method, path, version = "GET", "/v1/ivr/lookup?", "HTTP/1.1"
    if not usual and data.draw(st.booleans(), label="an odd request line"):
        method = data.draw(st.sampled_from(["GET", "get", "POST"]), label="method")
        path = data.draw(
            st.sampled_from(["/v1/ivr/lookup?", "/v1/ivr/lookup/?", "/v1/ivr/lookup"]), label="path"
        )
        version = data.draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.2"]), label="version")
    query = "&".join(data.draw(st.lists(_PARAMS, max_size=5), label="query"))
    headers = ["Host: callgate.test", f"Authorization: Bearer {tokens['ivr']}"]
    headers += data.draw(
        st.lists(_USUAL, max_size=3, unique_by=lambda h: h.split(":")[0].lower()), label="usual headers"
    )
    if not usual:
        if data.draw(st.booleans(), label="an agent's token"):
            headers[1] = f"Authorization: Bearer {tokens['agent']}"
        headers += data.draw(st.lists(_ODD, min_size=1, max_size=2), label="odd headers")
        headers = data.draw(st.permutations(headers), label="order")
    first = (
        f"{method} {path}{query} {version}\r\n{''.join(h + chr(13) + chr(10) for h in headers)}\r\n".encode()
    )
    second = lookup(tokens, f"ani={FIVE}")
    for port in (plain_port, edge_port):  # the cache filled for both (a miss says source=database)
        await _one_then_another(port, lookup(tokens, f"ani={FIVE}"), lookup(tokens, f"ani={FOUR}"))
        await _one_then_another(port, lookup(tokens, f"ani={ONE}"), lookup(tokens, "ani=13000119209"))
    edge_seen.clear()
    ours = await _one_then_another(edge_port, first, second)
    theirs = await _one_then_another(plain_port, first, second)
    assert [_normalised_answer(a) for a in ours] == [_normalised_answer(a) for a in theirs], first
    # The lane took the request exactly when its parser takes it (and then the follow-up too).
    taken = lane_module.parse(first) is not None
    event("taken by the lane" if taken else "left to aiohttp")
    if taken:
        assert edge_seen == [], first
    if usual and all(_PLAIN_OR_ESCAPED.fullmatch(p) for p in query.split("&")):
        assert taken, first  # what IVRs send is the lane's


async def test_a_failure_past_the_answer_closes_the_connection_and_is_counted(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rule Q1: the lane turns whatever the lookup raises into a problem; a bug after that (in
    # writing the answer's bytes) closes the connection, is logged and counted, and the next
    # connection is served
    edge, _, tokens, _, _ = both
    assert edge.server.port is not None

    def broken(*_: Any) -> bytes:
        raise RuntimeError("a bug in writing the answer")

    monkeypatch.setattr(lane_module, "whole", broken)
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.server.port)
    try:
        writer.write(lookup(tokens, f"ani={FIVE}"))
        async with asyncio.timeout(30):  # a guard against a hang, not a speed check
            assert await reader.read() == b""  # closed, nothing sent
    finally:
        writer.close()
    monkeypatch.undo()
    metrics = await (await edge.get("/metrics")).text()
    assert 'callgate_unexpected_errors_total{route="unhandled"} 1.0' in metrics
    (answer,) = await raw_exchange(edge.server.port, [lookup(tokens, f"ani={FIVE}")])
    assert answer[0][0] == "HTTP/1.1 200 OK"


async def test_a_lookup_being_answered_is_finished_before_the_server_stops(
    settings: Settings, conn: asyncpg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rule Q1: stopping the server (SIGTERM: the runner's cleanup) lets the lane's lookup in
    # flight finish and answers it, then closes the connection
    tokens = await evaluated_province(conn, database_url)
    edge = EdgeTestServer(create_app(settings))
    await edge.start_server()
    assert edge.port is not None
    started = asyncio.Event()
    slow_lookups(monkeypatch, 0.5, started)
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(lookup(tokens, f"ani={FIVE}"))
        await started.wait()
        stopping = asyncio.create_task(edge.close())
        (body,) = await read_answers(reader, 1)
        assert orjson.loads(body)["known"] is True
        await stopping
        async with asyncio.timeout(30):  # a guard against a hang, not a speed check
            assert await reader.read() == b""  # then closed
    finally:
        writer.close()


async def test_a_lookup_sent_while_one_is_answered_waits_for_it_and_is_the_lanes(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rule Q1: a read that comes while the lane answers is held (reading paused), then read
    # after the answer — by the lane again when it is a lookup — so answers keep their order
    edge, _, tokens, edge_seen, _ = both
    assert edge.server.port is not None
    slow_lookups(monkeypatch, 0.3)
    edge_seen.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.server.port)
    try:
        writer.write(lookup(tokens, f"ani={FIVE}"))
        await writer.drain()
        await asyncio.sleep(0.1)  # the first is being answered: the second read is held
        writer.write(lookup(tokens, f"ani={FOUR}"))
        await writer.drain()
        bodies = await read_answers(reader, 2)
    finally:
        writer.close()
    assert [orjson.loads(b)["msisdn"] for b in bodies] == [FIVE, FOUR]
    assert edge_seen == []  # both answered by the lane


async def test_a_lookup_outliving_the_shutdown_timeout_is_cancelled_before_the_stores_close(
    settings: Settings, conn: asyncpg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rule Q1: as aiohttp cancels its own handlers after the shutdown timeout, the lane cancels
    # a lookup still running then, so nothing runs on after the stores are closed
    tokens = await evaluated_province(conn, database_url)
    edge = EdgeTestServer(create_app(settings))
    await edge.start_server(shutdown_timeout=0.3)
    assert edge.port is not None
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck(self: LookupService, msisdn: str) -> Any:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(LookupService, "lookup", stuck)
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(lookup(tokens, f"ani={FIVE}"))
        await started.wait()
        async with asyncio.timeout(30):  # a guard against a hang, not a speed check
            await edge.close()
            assert cancelled.is_set()
            assert await reader.read() == b""  # closed without an answer
    finally:
        writer.close()


# Lookups with one header that aiohttp's parser or response treats specially (the lane leaves
# them to aiohttp) or that IVRs send (the lane takes them).
SPECIAL_HEADERS = [
    "Proxy-Connection: close",
    "Proxy-Connection: keep-alive",
    "Sec-WebSocket-Key1: a",
    "Content-Encoding: gzip",
    "Content-Type: application/json",
    "Content-Length: 0",
    "Connection: close",
    "Connection: keep-alive, close",
    "Connection: Keep-Alive",
    "Host: second.test",
    "X-Unknown: 1",
    "User-Agent: acd/1.0",
    "Accept-Encoding: gzip",
    "Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
]


@pytest.mark.parametrize("header", SPECIAL_HEADERS)
async def test_a_lookup_with_a_special_header_is_answered_as_aiohttp_answers_it(
    both: tuple[TestClient[Any, Any], TestClient[Any, Any], dict[str, str], list[str], list[str]],
    laneless: EdgeTestServer,
    header: str,
) -> None:
    # rule Q1: Proxy-Connection, the WebSocket keys, a second Host … change what aiohttp
    # answers (a close, a 400): the lane leaves such lookups to it; the edge answers the same
    edge, _, tokens, _, _ = both
    assert edge.server.port is not None and laneless.port is not None
    first = lookup(tokens, f"ani={FIVE}", header + "\r\n")
    second = lookup(tokens, f"ani={FOUR}")
    for port in (laneless.port, edge.server.port):  # the cache filled for both
        await _one_then_another(port, lookup(tokens, f"ani={FIVE}"), lookup(tokens, f"ani={FOUR}"))
    ours = await _one_then_another(edge.server.port, first, second)
    theirs = await _one_then_another(laneless.port, first, second)
    assert [_normalised_answer(a) for a in ours] == [_normalised_answer(a) for a in theirs]
