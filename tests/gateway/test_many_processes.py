"""X3 against two real `callgate serve` processes on different ports (as on two hosts), on
the same PostgreSQL and Redis: a screen pop posted to one reaches the agent's event stream
held by the other, and the call memory one wrote answers the other; a token revoked in the
shared database is refused by both within seconds, and an open stream on it ends."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from gateway.http import auth
from gateway.http.app import create_app
from gateway.http.keys import TOKENS
from gateway.services.tokens import create_token
from gateway.settings import Settings
from gateway.stores.queries import tokens
from tests.gateway import province
from tests.gateway.grants import ClientFactory
from tests.gateway.lookup_support import FIVE, evaluated_province
from tests.gateway.serve_support import Served, two_servers

NOW = "2026-11-26T10:00:00+08:00"
DEADLINE_S = 30.0  # a test failure bound, not a speed claim (the machine is shared)


async def next_call(stream: aiohttp.ClientResponse, timeout: float) -> dict[str, Any]:
    """Read SSE frames until a `call` event; return its data."""
    async with asyncio.timeout(timeout):
        event = None
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "call":
                data: dict[str, Any] = orjson.loads(line[6:])
                return data


@pytest.fixture
async def servers(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[dict[str, str], Served, Served]]:
    tokens = await evaluated_province(conn, database_url)
    env = {
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_NOW": NOW,
        "CALLGATE_LOOKUP_BUDGET_MS": "1000",  # a miss answered in full even on a busy shared machine
    }
    with two_servers(tmp_path, env) as (first, second):
        # Both processes listen for the other's screen pops before the test posts one.
        redis = Redis.from_url(redis_url)
        try:
            deadline = time.monotonic() + DEADLINE_S
            while sum(int(c.get("psub", 0)) > 0 for c in await redis.client_list()) < 2:
                assert time.monotonic() < deadline, "the serve processes never subscribed"
                await asyncio.sleep(0.1)
        finally:
            await redis.aclose()
        yield tokens, first, second
    assert first.leaks() == [] and second.leaks() == []


async def test_a_screen_pop_posted_to_one_process_reaches_the_stream_held_by_another(
    servers: tuple[dict[str, str], Served, Served],
) -> None:
    # rule X3: screen pops and agent event streams cross processes through Redis
    tokens, first, second = servers
    ivr = {"Authorization": f"Bearer {tokens['ivr']}"}
    agent = {"Authorization": f"Bearer {tokens['agent']}"}
    async with aiohttp.ClientSession() as session:
        stream = await session.get(f"{second.base}/v1/agents/X3-7/events", headers=agent)
        assert stream.status == 200
        looked_up = await session.get(
            f"{first.base}/v1/ivr/lookup", params={"ani": FIVE, "call_id": "x3-call-1"}, headers=ivr
        )
        answer = await looked_up.json()
        assert answer["tier"]["level"] == "five_star"
        # The call memory written by the first process answers the second (X3: call memory).
        deadline = time.monotonic() + DEADLINE_S
        while True:
            connected = await session.post(
                f"{second.base}/v1/calls/x3-call-1/connected", json={"agent_id": "X3-7"}, headers=ivr
            )
            if connected.status == 202:
                break
            assert connected.status == 404 and time.monotonic() < deadline  # not yet in Redis
            await asyncio.sleep(0.05)
        event = await next_call(stream, DEADLINE_S)
        assert event["call_id"] == "x3-call-1" and event["answer"] == answer
        # And the other way: posted to the first, the stream on the second still receives it.
        connected = await session.post(
            f"{first.base}/v1/calls/x3-call-1/connected", json={"agent_id": "X3-7"}, headers=ivr
        )
        assert connected.status == 202
        event = await next_call(stream, DEADLINE_S)
        assert event["call_id"] == "x3-call-1" and event["agent_id"] == "X3-7"
        # The history is written by each process's next flush (every 20 ms): both pops land in it.
        deadline = time.monotonic() + DEADLINE_S
        while True:
            history = await (await session.get(f"{first.base}/v1/agents/X3-7/calls", headers=agent)).json()
            if len(history["items"]) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert [item["call_id"] for item in history["items"]] == ["x3-call-1", "x3-call-1"]
        stream.close()


async def test_a_revoked_token_is_refused_by_every_process_within_seconds(
    servers: tuple[dict[str, str], Served, Served], conn: asyncpg.Connection, database_url: str
) -> None:
    # rule X3: token revocations live in PostgreSQL; every process reloads them
    _, first, second = servers
    token_id, token = await create_token(conn, "agent", name="x3")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        for served in (first, second):  # a token made a moment ago works at once on both
            assert (await session.get(f"{served.base}/v1/agents/X3-8/calls", headers=headers)).status == 200
        stream = await session.get(f"{second.base}/v1/agents/X3-8/events", headers=headers)
        assert stream.status == 200

        revoked = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "gateway.cli.main", "tokens", "revoke", str(token_id)],
            env={"CALLGATE_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert revoked.returncode == 0, revoked.stderr
        started = time.monotonic()
        refused: dict[int, float] = {}
        while len(refused) < 2:
            assert time.monotonic() - started < DEADLINE_S, f"still accepted by {refused}"
            for served in (first, second):
                if served.port not in refused:
                    status = (
                        await session.get(f"{served.base}/v1/agents/X3-8/calls", headers=headers)
                    ).status
                    if status == 401:
                        refused[served.port] = time.monotonic() - started
            await asyncio.sleep(0.1)
        # The stream opened with it ends too (re-checked every second against the reloaded set).
        async with asyncio.timeout(DEADLINE_S):
            while await stream.content.readline():
                pass
        print(f"revocation refused after {sorted(round(s, 2) for s in refused.values())} s")


async def test_a_revocation_is_announced_to_every_process_without_waiting_for_the_poll(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rule X3: `tokens revoke` NOTIFYs; each process LISTENs and reloads at once (the 2 s poll is
    # the fallback: set to an hour here, so only the announcement can make the token refused)
    monkeypatch.setattr(auth, "REFRESH_SECONDS", 3600.0)
    await province.branches(conn)
    token_id, token = await create_token(conn, "agent", name="x3")
    clients = [await aiohttp_client(create_app(settings)) for _ in range(2)]  # two apps, two token caches
    headers = {"Authorization": f"Bearer {token}"}
    for client in clients:
        assert (await client.get("/v1/me", headers=headers)).status == 200
    deadline = time.monotonic() + DEADLINE_S
    while not all(client.app[TOKENS].listening for client in clients):
        assert time.monotonic() < deadline, "the token caches never listened"
        await asyncio.sleep(0.05)
    assert await tokens.revoke(conn, token_id) is True
    deadline = time.monotonic() + DEADLINE_S
    for client in clients:
        while (await client.get("/v1/me", headers=headers)).status != 401:
            assert time.monotonic() < deadline, "the revocation never reached this process"
            await asyncio.sleep(0.05)
    assert await tokens.revoke(conn, token_id) is False  # already revoked: nothing announced
