"""Store failures never fail a call (Q4, SPEC §7): this test starts and stops its own
real PostgreSQL and Redis, freezes them with SIGSTOP, and checks every answer.

The only timing checked is the difference between the lookup budget (50 ms) and a
socket timeout (≥ 1 s): an answer that took longer than half a second was not cut off
by the budget. Speed itself is measured by benchmarks/bench_lookup.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.settings import Settings
from gateway.stores import db, migrations
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.conftest import FIXED_NOW
from tests.gateway.lookup_support import FIVE, FOUR, ONE, evaluated_province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
NOT_A_SOCKET_TIMEOUT = 0.5


@dataclasses.dataclass
class Stores:
    pg: EmbeddedPostgres
    redis: EmbeddedRedis
    settings: Settings
    tokens: dict[str, str]


@pytest.fixture
async def own_stores(tmp_path: Path) -> AsyncIterator[Stores]:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    redis = EmbeddedRedis(tmp_path / "redis", durable=False)
    dsn, url = pg.start(), redis.start()
    conn = await db.connect(dsn)
    await migrations.migrate(conn)
    tokens = await evaluated_province(conn, dsn)
    await conn.close()
    settings = Settings(
        database_url=dsn, redis_url=url, data_dir=tmp_path, now=FIXED_NOW, lookup_budget_ms=50
    )
    try:
        yield Stores(pg, redis, settings, tokens)
    finally:
        for pid in (pg.pid(), redis.pid()):
            for p in with_children(pid) if pid else []:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGCONT)
        redis.stop()
        pg.stop()


def with_children(pid: int) -> list[int]:
    """A server and its child processes (PostgreSQL backends are children of the postmaster)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def ask(client: TestClient[Any, Any], token: str, ani: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = await client.get(
        "/v1/ivr/lookup", params={"ani": ani}, headers={"Authorization": f"Bearer {token}"}
    )
    body = await response.json()
    return response.status, body, time.monotonic() - started


async def many(
    client: TestClient[Any, Any], token: str, numbers: list[str], rounds: int = 5
) -> list[tuple[int, dict[str, Any], float]]:
    results = []
    for _ in range(rounds):
        results.extend(await asyncio.gather(*(ask(client, token, n) for n in numbers)))
    return results


async def wait_for(
    client: TestClient[Any, Any], token: str, ani: str, source: str, seconds: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status, body, _ = await ask(client, token, ani)
        assert status == 200
        if body["source"] == source and not body["degraded"]:
            return body
        assert time.monotonic() < deadline, f"still {body['source']} / degraded={body['degraded']}"
        await asyncio.sleep(0.2)


async def test_stop_and_restart_both_stores(aiohttp_client: ClientFactory, own_stores: Stores) -> None:
    client = await aiohttp_client(create_app(own_stores.settings))
    token = own_stores.tokens["ivr"]
    numbers = [FIVE, FOUR, ONE]
    warm = await many(client, token, numbers, rounds=2)
    assert all(status == 200 and not body["degraded"] for status, body, _ in warm), warm

    own_stores.redis.stop()  # Redis down: every lookup answered from PostgreSQL
    results = await many(client, token, numbers)
    assert all(status == 200 for status, _, _ in results)
    assert {body["source"] for _, body, _ in results} == {"database"}, [
        (b["source"], b.get("reason"), round(e * 1000)) for _, b, e in results
    ]
    assert all(not body["degraded"] and body["tier"] is not None for _, body, _ in results)

    own_stores.pg.stop()  # PostgreSQL down too: the recent answer (degraded) or the default route
    results = await many(client, token, [*numbers, "13912345678"])
    assert all(status == 200 for status, _, _ in results)
    assert all(body["degraded"] for _, body, _ in results), [
        (b["msisdn"], b["source"], b.get("reason")) for _, b, _ in results if not b["degraded"]
    ]
    remembered = [body for _, body, _ in results if body["msisdn"] == FIVE]
    assert all(b["source"] == "cache" and b["tier"]["level"] == "five_star" for b in remembered)
    never_seen = [body for _, body, _ in results if body["msisdn"] == "13912345678"]
    assert all(b["source"] == "default" and b["queue"]["name"] == "general" for b in never_seen)
    assert all(elapsed < NOT_A_SOCKET_TIMEOUT for _, _, elapsed in results)

    own_stores.pg.start()  # both back: normal answers without restarting callgate
    own_stores.redis.start()
    await wait_for(client, token, FOUR, "cache")
    body = await wait_for(client, token, ONE, "cache")
    assert body["tier"]["level"] == "one_star"


@pytest.mark.parametrize("frozen", ["redis", "postgresql"])
async def test_a_frozen_store_costs_the_budget_not_a_socket_timeout(
    aiohttp_client: ClientFactory, own_stores: Stores, frozen: str
) -> None:
    client = await aiohttp_client(create_app(own_stores.settings))
    token = own_stores.tokens["ivr"]
    if frozen == "postgresql":
        await many(client, token, [FIVE], rounds=1)  # FIVE is answered once so the process remembers it
        own_stores.redis.stop()  # and Redis is gone, so PostgreSQL is the only store left
    pid = own_stores.redis.pid() if frozen == "redis" else own_stores.pg.pid()
    assert pid is not None
    frozen_pids = with_children(pid)
    for p in frozen_pids:
        os.kill(p, signal.SIGSTOP)
    try:
        results = await many(client, token, [FOUR, ONE, "13912345678"], rounds=4)
    finally:
        for p in frozen_pids:
            os.kill(p, signal.SIGCONT)
    assert all(status == 200 for status, _, _ in results)
    assert all(elapsed < NOT_A_SOCKET_TIMEOUT for _, _, elapsed in results), max(e for _, _, e in results)
    if frozen == "redis":
        # Redis frozen: PostgreSQL answers in full
        assert {body["source"] for _, body, _ in results} == {"database"}, [
            (b["source"], b.get("reason")) for _, b, _ in results
        ]
        assert not any(body["degraded"] for _, body, _ in results)
    else:
        assert all(body["degraded"] and body["queue"]["name"] == "general" for _, body, _ in results), [
            (b["msisdn"], b["source"], b["degraded"], b.get("reason")) for _, b, _ in results
        ]
        assert {body.get("reason", "")[:10] for _, body, _ in results} <= {"postgresql"}
    metrics = await (await client.get("/metrics")).text()
    assert "callgate_store_errors_total" in metrics
