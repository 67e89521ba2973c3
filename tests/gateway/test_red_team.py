"""What a red-team run against `callgate serve` found, one regression test per finding,
against the real service: the app behind EdgeRunner (what `serve` runs) over raw sockets
where aiohttp's client refuses to send the bytes, real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.http.app import create_app
from gateway.http.keys import TOKENS
from gateway.logs import configure_logging
from gateway.services.tokens import create_token
from gateway.settings import Settings
from tests.conftest import restore_logging
from tests.gateway import grants, province
from tests.gateway.edge import LogTail, RawResponse, exchange, request, serving
from tests.gateway.grants import GOLD, OTHER, Tokens
from tests.gateway.lookup_support import FIVE, evaluated_province
from tests.gateway.test_cli import callgate, store_env

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@pytest.fixture
async def tokens(conn: asyncpg.Connection) -> Tokens:
    await province.branches(conn)
    return await grants.tokens(conn)


def ascii_digits(text: str) -> str:
    """Digits of any script as ASCII (a log line's number in another script is still the number)."""
    return re.sub(r"\d", lambda m: str(unicodedata.decimal(m.group())), text)


def json_body(value: Any) -> bytes:
    return orjson.dumps(value)


def unexpected_errors(metrics_text: str) -> dict[str, float]:
    """callgate_unexpected_errors_total by route label."""
    found = {}
    for line in metrics_text.splitlines():
        match = re.match(r'callgate_unexpected_errors_total\{route="([^"]*)"\} (\S+)', line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


async def metrics(port: int) -> dict[str, float]:
    response = await exchange(port, request("GET", "/metrics"))
    return unexpected_errors(response.body.decode())


def assert_problem(response: RawResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, response.body[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    return body


# --- 1. a committed write answered with a 500 -----------------------------------------------


async def own_call(port: int, token: str, msisdn: str = GOLD) -> None:
    """The IVR's lookup of the customer's own call (H1: own number is proven by the call)."""
    target = f"/v1/ivr/lookup?ani={msisdn}&call_id={grants.own_call_id(msisdn)}"
    answer = await exchange(port, request("GET", target, [("Authorization", f"Bearer {token}")]))
    assert answer.status == 200


async def test_a_request_id_of_raw_bytes_is_replaced_and_the_committed_write_answered_201(
    settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)  # GOLD: a suspended gold card, postpaid → a 48 h grant
    await grants.customer(conn, OTHER, level="diamond", payment_mode="prepaid", status="active")
    await grants.credit_grant(conn, OTHER, 10_000)
    tail = LogTail()
    async with serving(settings) as served:
        await own_call(served.port, tokens.ivr)
        bad = ("X-Request-Id", b"\xff")
        grant = await exchange(
            served.port,
            request(
                "POST", "/v1/reactivations",
                [bad, ("Authorization", f"Bearer {tokens.agent}"), ("Idempotency-Key", "k-1"),
                 ("Content-Type", "application/json")],
                json_body(grants.reactivation_body()),
            ),
        )  # fmt: skip
        assert grant.status == 201, grant.body
        assert REQUEST_ID.fullmatch(grant.headers["x-request-id"])  # the id we used instead
        replay = await exchange(
            served.port,
            request(
                "POST", "/v1/reactivations",
                [("Authorization", f"Bearer {tokens.agent}"), ("Idempotency-Key", "k-1"),
                 ("Content-Type", "application/json")],
                json_body(grants.reactivation_body()),
            ),
        )  # fmt: skip
        assert replay.status == 201 and replay.json() == grant.json()
        debit = await exchange(
            served.port,
            request(
                "POST", "/v1/credit/authorize",
                [bad, ("Authorization", f"Bearer {tokens.ivr}"), ("Content-Type", "application/json")],
                json_body({"msisdn": OTHER, "amount_yuan": "10.00", "ref": "r-1"}),
            ),
        )  # fmt: skip
        assert debit.status == 200 and debit.json()["approved"] is True
        for path, auth in (("/healthz", None), ("/agent/", None), ("/v1/me", tokens.agent)):
            headers = [bad] + ([("Authorization", f"Bearer {auth}")] if auth else [])
            answer = await exchange(served.port, request("GET", path, headers))
            assert answer.status == 200, (path, answer.body[:200])
            assert REQUEST_ID.fullmatch(answer.headers["x-request-id"])
        for given in (b"caf\xc3\xa9", b"a b", b"x" * 129, b"id/1", b"\xe2\x80\xae-rtl"):
            answer = await exchange(served.port, request("GET", "/healthz", [("X-Request-Id", given)]))
            assert answer.status == 200 and answer.headers["x-request-id"].encode() != given
        kept = await exchange(served.port, request("GET", "/healthz", [("X-Request-Id", "ivr-7:call.42_a")]))
        assert kept.headers["x-request-id"] == "ivr-7:call.42_a"
        assert await metrics(served.port) == {}  # no unexpected error anywhere
    assert await conn.fetchval("SELECT count(*) FROM reactivations WHERE msisdn = $1", GOLD) == 1
    assert await conn.fetchval("SELECT count(*) FROM credit_debits WHERE approved") == 1
    logged = [orjson.loads(line) for line in tail.lines() if '"event":"request"' in line]
    assert {(line["route"], line["status"]) for line in logged} >= {
        ("/v1/reactivations", 201), ("/v1/credit/authorize", 200), ("/v1/me", 200),
    }  # fmt: skip


class BrokenStream(io.TextIOBase):
    """A log destination that fails every write (a full disk)."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def logging_to(stream: Any) -> Iterator[None]:
    configure_logging("debug", stream, cache=False)
    try:
        yield
    finally:
        restore_logging()


async def test_a_log_line_that_cannot_be_written_changes_no_answer_and_is_counted(
    settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    await grants.customer(conn)
    async with serving(settings) as served:
        await own_call(served.port, tokens.ivr)
        with logging_to(BrokenStream()):
            grant = await exchange(
                served.port,
                request(
                    "POST", "/v1/reactivations",
                    [("Authorization", f"Bearer {tokens.agent}"), ("Idempotency-Key", "k-2")],
                    json_body(grants.reactivation_body()),
                ),
            )  # fmt: skip
            unparsable = await exchange(served.port, b"GET /healthz HTTP/1.1\r\nX-Bad\x00: 1\r\n\r\n")
        assert grant.status == 201, grant.body
        assert_problem(unparsable, 400, "invalid_request")
        await metrics(served.port)  # failures are added to the metric as a request finishes
        counted = await metrics(served.port)
    assert counted.get("logging", 0) >= 2  # the request line and the parser error's line at least
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1


# --- 2. revoked tokens keep their open event streams ----------------------------------------


async def read_until_end(stream: Any) -> list[str]:
    """Every line of an event stream until the server ends it."""
    lines = []
    async with asyncio.timeout(30):  # a guard against a hang, not a speed check
        while line := await stream.content.readline():
            lines.append(line.decode().rstrip("\n"))
    return lines


async def next_call(stream: Any) -> dict[str, Any]:
    event = None
    async with asyncio.timeout(30):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "call":
                data: dict[str, Any] = orjson.loads(line[6:])
                return data


async def test_a_revoked_or_expired_token_loses_its_event_stream(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    made = await evaluated_province(conn, database_url)
    agents = [await create_token(conn, "agent", name=f"desk {i}") for i in range(4)]
    ivr = {"Authorization": f"Bearer {made['ivr']}"}
    client = await aiohttp_client(create_app(settings))
    streams = [
        await client.get("/v1/agents/A1001/events", headers={"Authorization": f"Bearer {token}"})
        for _, token in agents
    ]
    assert [s.status for s in streams] == [200] * 4
    await client.get("/v1/ivr/lookup", params={"ani": FIVE, "call_id": "call-1"}, headers=ivr)
    await asyncio.sleep(0.1)  # the call memory reaches Redis in batches

    # Revoked, and the revocation reaches the token cache right before the next screen pop:
    # the check before sending stops it.
    await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", agents[0][0])
    await client.app[TOKENS].refresh()
    connected = await client.post("/v1/calls/call-1/connected", json={"agent_id": "A1001"}, headers=ivr)
    assert connected.status == 202
    for live in streams[1:]:
        event = await next_call(live)
        assert event["call_id"] == "call-1" and event["answer"]["msisdn"] == FIVE
    revoked = await read_until_end(streams[0])
    assert not any(line == "event: call" or FIVE in line for line in revoked)

    # Revoked with no event to send: the periodic check ends the stream.
    await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", agents[1][0])
    await read_until_end(streams[1])  # ends (the cache reloads every 2 s, the stream checks every 1 s)

    # Expired (the clock is pinned at 2026-11-26T10:00+08:00).
    await conn.execute(
        "UPDATE api_tokens SET expires_at = '2026-11-26T09:59:00+08:00' WHERE id = $1", agents[2][0]
    )
    await read_until_end(streams[2])

    unaffected = await client.get("/v1/me", headers={"Authorization": f"Bearer {agents[3][1]}"})
    assert unaffected.status == 200
    for gone in (agents[0][1], agents[1][1], agents[2][1]):
        again = await client.get("/v1/agents/A1001/events", headers={"Authorization": f"Bearer {gone}"})
        assert again.status == 401
    streams[3].close()


# --- 3. numbers in mixed scripts skip normalisation -----------------------------------------

MIXED = {
    "Arabic-Indic zeros": FIVE.replace("0", "٠"),
    "one full-width digit": FIVE[:-1] + chr(0xFF10 + int(FIVE[-1])),
    "Devanagari tail": FIVE[:7] + "".join(chr(0x0966 + int(d)) for d in FIVE[7:]),
    "full-width plus and spaces": "＋86 " + FIVE[:3] + "　" + FIVE[3:],
}


@pytest.mark.parametrize("ani", list(MIXED.values()), ids=list(MIXED))
async def test_a_number_in_mixed_scripts_is_the_same_caller(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str,
    redis_url: str, ani: str,
) -> None:  # fmt: skip
    made = await evaluated_province(conn, database_url)
    client = await aiohttp_client(create_app(settings))
    tail = LogTail()
    answer = await client.get(
        "/v1/ivr/lookup", params={"ani": ani}, headers={"Authorization": f"Bearer {made['ivr']}"}
    )
    body = await answer.json()
    assert answer.status == 200
    assert (body["msisdn"], body["known"], body["tier"]["level"], body["queue"]["name"]) == (
        FIVE, True, "five_star", "vip",
    )  # fmt: skip
    view = await client.get(f"/v1/subscribers/{ani}", headers={"Authorization": f"Bearer {made['agent']}"})
    assert view.status == 200
    redis = Redis.from_url(redis_url)
    try:
        keys = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("*")]
    finally:
        await redis.aclose()
    assert all(k.isascii() for k in keys), keys  # no negative-cache key under the raw text
    lines = tail.lines()
    assert any('"route":"/v1/subscribers/{msisdn}"' in line for line in lines)
    assert not [line for line in lines if FIVE in ascii_digits(line) or ani in line]


# --- 4. secrets and numbers in logs through the HTTP parser's errors ------------------------


async def test_parser_errors_quote_no_token_and_no_number(
    settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    tail = LogTail()
    token = tokens.agent.encode()
    async with serving(settings) as served:
        nul = await exchange(
            served.port, request("GET", "/v1/me", [("Authorization", b"Bearer " + token + b"\x00")])
        )
        padded = await exchange(
            served.port, request("GET", "/v1/me", [("Authorization", b"Bearer " + token + b" " * 9000)])
        )
        long_line = await exchange(
            served.port,
            request(
                "GET", f"/v1/ivr/lookup?ani={GOLD}&dnis=10010&x={'a' * 9000}",
                [("Authorization", f"Bearer {tokens.ivr}")],
            ),
        )  # fmt: skip
        bad_method = await exchange(
            served.port, b"G\x00T /v1/me HTTP/1.1\r\nAuthorization: Bearer " + token + b"\r\n\r\n"
        )
    for response in (nul, padded, long_line, bad_method):
        body = assert_problem(response, 400, "invalid_request")
        assert body["detail"].startswith("the request is not valid HTTP")
        text = response.body.decode()
        assert tokens.agent not in text and tokens.ivr not in text and GOLD not in text
    lines = tail.lines()
    assert sum('"event":"unparsable_request"' in line for line in lines) == 4
    leaks = [line for line in lines if tokens.agent in line or tokens.ivr in line or GOLD in line]
    assert leaks == []


# --- 5. other 500s --------------------------------------------------------------------------


async def test_raw_bytes_in_the_token_are_a_401_and_a_bogus_charset_a_400(
    settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    async with serving(settings) as served:
        garbage = await exchange(
            served.port, request("GET", "/v1/me", [("Authorization", b"Bearer \xff\xfe")])
        )
        assert_problem(garbage, 401, "unauthorized")
        for charset in ("x-bogus", "rot13", "undefined", "zlib"):
            bogus = await exchange(
                served.port,
                request(
                    "POST", "/v1/calls/c1/connected",
                    [("Authorization", f"Bearer {tokens.ivr}"),
                     ("Content-Type", f"application/json; charset={charset}")],
                    json_body({"agent_id": "A1"}),
                ),
            )  # fmt: skip
            assert_problem(bogus, 400, "invalid_request")
        assert await metrics(served.port) == {}


# --- 6. `tokens create --expires-in 0m` made a token that never expires ---------------------


@pytest.mark.parametrize("duration", ["0m", "0h", "0d", "000d", "99999999999d"])
async def test_tokens_create_refuses_a_duration_that_is_not_positive_or_absurd(
    database_url: str, redis_url: str, tmp_path: Path, conn: asyncpg.Connection, duration: str
) -> None:
    env = store_env(database_url, redis_url, tmp_path)
    result = callgate(["tokens", "create", "--role", "agent", "--expires-in", duration], env)
    assert result.returncode == 2
    assert "--expires-in" in result.stderr and ("positive" in result.stderr or "at most" in result.stderr)
    assert await conn.fetchval("SELECT count(*) FROM api_tokens WHERE NOT demo") == 0
