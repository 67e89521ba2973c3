"""Arbitrary bytes in the request id, authorization and content-type headers, sent over raw
sockets to the real edge (EdgeRunner, what `callgate serve` runs) on the write routes and a
few reads: never a 5xx, never a write without a 2xx, never a token or a raw number in a log
line, every error a problem+json."""

from __future__ import annotations

import dataclasses
import itertools
import re
import unicodedata
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from gateway.http.keys import METRICS
from gateway.settings import Settings
from tests.gateway import grants, province
from tests.gateway.edge import LogTail, Served, exchange, request, serving
from tests.gateway.grants import GOLD, OTHER, Tokens

# Header values: any bytes but CR and LF (those end the header; framing is aiohttp's own test
# matter), now and then long enough to pass aiohttp's 8,190-byte limit.
_VALUE = st.one_of(
    st.binary(max_size=120),
    # bytes the parser lets through: visible Latin-1 (arrives as text with \x80-\xff in it)
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
    ).map(lambda t: t.encode("latin-1")),
    st.binary(min_size=1, max_size=16).map(lambda b: b * 700),
    st.sampled_from(
        [b"\xff", b"\xff\xfe", b"\x00", b"\xc3", b"\xed\xa0\x80", b"\t", b" ", b"\x7f", b"\xe2\x80\xae"]
    ),
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_CHARSETS = st.sampled_from(
    [b"utf-8", b"x-bogus", b"rot13", b"undefined", b"zlib", b"utf-16", b"latin-1", b"utf-7", b"idna", b"\xff"]
)
ROUTES = ["reactivate", "authorize", "connected", "me", "lookup", "healthz", "subscriber"]
_refs = itertools.count()


@pytest.fixture
async def tokens(conn: asyncpg.Connection) -> Tokens:
    await province.branches(conn)
    return await grants.tokens(conn)


@pytest.fixture
async def served(settings: Settings, conn: asyncpg.Connection, tokens: Tokens) -> AsyncIterator[Served]:
    await grants.customer(conn)  # GOLD: suspended, may be reactivated once
    await grants.customer(conn, OTHER, level="diamond", payment_mode="prepaid", status="active")
    await grants.credit_grant(conn, OTHER, 10**7)
    # people's rate limit out of the way: a 429 is no failure, but it would hide the routes
    async with serving(dataclasses.replace(settings, rate_limit=100_000)) as running:
        yield running


def _ascii_digits(text: str) -> str:
    return re.sub(r"\d", lambda m: str(unicodedata.decimal(m.group())), text)


async def writes(conn: asyncpg.Connection) -> tuple[int, int]:
    """Rows of the two tables a write route adds to."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM reactivations) AS r, (SELECT count(*) FROM credit_debits) AS d"
    )
    assert row is not None
    return int(row["r"]), int(row["d"])


@hsettings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_arbitrary_header_bytes_never_break_the_contract(
    served: Served, conn: asyncpg.Connection, tokens: Tokens, data: st.DataObject
) -> None:
    route = data.draw(st.sampled_from(ROUTES), label="route")
    token = {"reactivate": tokens.agent, "me": tokens.agent, "subscriber": tokens.agent}.get(
        route, tokens.ivr
    )
    request_id = data.draw(st.none() | _VALUE, label="X-Request-Id")
    authorization = data.draw(
        st.one_of(
            st.just(f"Bearer {token}".encode()),
            st.none(),
            _VALUE,
            st.tuples(_VALUE, _VALUE).map(lambda p: p[0] + f"Bearer {token}".encode() + p[1]),
            _VALUE.map(lambda v: b"Bearer " + v),
        ),
        label="Authorization",
    )
    content_type = data.draw(
        st.one_of(
            st.none(),
            st.just(b"application/json"),
            _CHARSETS.map(lambda c: b"application/json; charset=" + c),
            _VALUE,
            _VALUE.map(lambda v: b"application/json; charset=" + v),
        ),
        label="Content-Type",
    )
    headers: list[tuple[str, bytes | str]] = [
        (name, value)
        for name, value in (
            ("X-Request-Id", request_id),
            ("Authorization", authorization),
            ("Content-Type", content_type),
        )
        if value is not None
    ]
    method, target, body = {
        "reactivate": ("POST", "/v1/reactivations", orjson.dumps(grants.reactivation_body())),
        "authorize": (
            "POST",
            "/v1/credit/authorize",
            orjson.dumps({"msisdn": OTHER, "amount_yuan": "0.01", "ref": f"fuzz-{next(_refs)}"}),
        ),
        "connected": ("POST", "/v1/calls/fuzz-call/connected", orjson.dumps({"agent_id": "A1"})),
        "me": ("GET", "/v1/me", b""),
        "lookup": ("GET", f"/v1/ivr/lookup?ani={GOLD}&call_id=fuzz-call", b""),
        "healthz": ("GET", "/healthz", b""),
        "subscriber": ("GET", f"/v1/subscribers/{OTHER}", b""),
    }[route]
    if route == "reactivate":
        headers.append(("Idempotency-Key", f"fuzz-{next(_refs)}"))
    tail = LogTail()
    before = await writes(conn)
    response = await exchange(served.port, request(method, target, headers, body))
    after = await writes(conn)

    assert response.status < 500, response.body[:300]
    if response.status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.body[:300]
    if not 200 <= response.status < 300:
        assert after == before  # nothing written behind an error answer
    assert all(0 <= a - b <= 1 for a, b in zip(after, before, strict=True))
    for line in tail.lines():
        assert tokens.agent not in line and tokens.ivr not in line, line[:300]
        assert GOLD not in _ascii_digits(line) and OTHER not in _ascii_digits(line), line[:300]
    # nothing unexpected (nor a lost log line) counted by the middleware or the edge
    counted = [s for m in served.app[METRICS].unexpected.collect() for s in m.samples if s.value]
    assert counted == []
