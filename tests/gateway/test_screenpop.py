"""Screen pop: a connected call reaches the agent's event stream, also across workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.settings import Settings
from tests.gateway.lookup_support import FIVE, FOUR, evaluated_province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]


async def next_call(stream: Any, timeout: float = 5.0) -> dict[str, Any]:
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


async def test_connected_call_pops_on_the_agents_widget_in_another_worker(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    tokens = await evaluated_province(conn, database_url)
    ivr = {"Authorization": f"Bearer {tokens['ivr']}"}
    agent = {"Authorization": f"Bearer {tokens['agent']}"}
    worker_a = await aiohttp_client(create_app(settings))  # holds the agent's stream
    worker_b = await aiohttp_client(create_app(settings))  # takes the IVR's requests
    stream = await worker_a.get("/v1/agents/A1001/events", headers=agent)
    assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    await asyncio.sleep(0.3)  # both workers subscribed to Redis

    for msisdn, call_id in ((FIVE, "call-1"), (FOUR, "call-2")):
        looked_up = await (
            await worker_b.get("/v1/ivr/lookup", params={"ani": msisdn, "call_id": call_id}, headers=ivr)
        ).json()
        await asyncio.sleep(0.1)  # the call memory reaches Redis in batches of 50 ms
        connected = await worker_b.post(
            f"/v1/calls/{call_id}/connected", json={"agent_id": "A1001"}, headers=ivr
        )
        assert connected.status == 202
        event = await next_call(stream, timeout=1.0)  # within a second
        assert event["call_id"] == call_id and event["agent_id"] == "A1001"
        assert event["answer"] == looked_up

    history = await (await worker_a.get("/v1/agents/A1001/calls", headers=agent)).json()
    assert [item["call_id"] for item in history["items"]] == ["call-2", "call-1"]  # newest first
    stream.close()


async def test_connect_needs_a_lookup_and_the_ivr_role(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    tokens = await evaluated_province(conn, database_url)
    client = await aiohttp_client(create_app(settings))
    ivr = {"Authorization": f"Bearer {tokens['ivr']}"}
    missing = await client.post("/v1/calls/never-looked-up/connected", json={"agent_id": "A1"}, headers=ivr)
    assert missing.status == 404
    bad = await client.post("/v1/calls/c1/connected", json={"agent_id": "no spaces"}, headers=ivr)
    assert bad.status == 400 and (await bad.json())["field"] == "agent_id"
    agent = await client.post(
        "/v1/calls/c1/connected",
        json={"agent_id": "A1"},
        headers={"Authorization": f"Bearer {tokens['agent']}"},
    )
    assert agent.status == 403
