"""Store failures never fail a call (Q4, SPEC §7): these tests start and stop their own
real PostgreSQL and Redis, freeze them with SIGSTOP, or put a misbehaving TCP proxy
(tests/gateway/redis_proxy.py) between callgate and Redis, and check every answer.

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

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from gateway.http.app import create_app
from gateway.http.keys import LOOKUP
from gateway.services.lookup import LookupService
from gateway.services.tokens import create_token
from gateway.settings import Settings
from gateway.stores import db, migrations
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis
from gateway.stores.record import key_of
from tests.conftest import FIXED_NOW
from tests.gateway import province
from tests.gateway.lookup_support import FIVE, FOUR, ONE, TODAY, WITH_MANAGER_FOUR, evaluated_province
from tests.gateway.redis_proxy import Mode, RedisProxy

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
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


# --- a black hole between callgate and Redis ----------------------------------------------

# Monthly bills (yuan) and the level they give a subscriber of six years (tenure score 1.4):
# every sixth number is no subscriber at all. Neighbouring numbers get different answers, so
# a reply matched to the wrong request shows in the answer.
LEVEL_BY_BILL: list[tuple[int | None, str | None]] = [
    (200, "five_star"), (110, "four_star"), (70, "three_star"), (30, "two_star"), (10, "one_star"),
    (None, None),
]  # fmt: skip
CROWD = 150
BUDGET_MS = 2000  # Redis gets half of it
FAULT_SECONDS = 3.0
DELAY_SECONDS = 2.5  # beyond the whole budget


@dataclasses.dataclass
class Crowd:
    client: TestClient[Any, Any]
    service: LookupService
    token: str
    proxy: RedisProxy
    expected: dict[str, str | None]  # number → level it must be answered with (None: unknown)


@pytest.fixture
async def crowd(
    aiohttp_client: ClientFactory,
    conn: asyncpg.Connection,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[Crowd]:
    """150 numbers of known levels, and callgate talking to Redis through a proxy."""
    await province.branches(conn)
    expected: dict[str, str | None] = {}
    for i in range(CROWD):
        msisdn = f"1861236{i:04d}"
        bill, level = LEVEL_BY_BILL[i % len(LEVEL_BY_BILL)]
        expected[msisdn] = level
        if bill is not None:
            await province.subscriber(conn, msisdn)
            await province.bills(conn, msisdn, "2025-09", "2026-10", bill)
    await evaluation.run(
        conn, load_policy("unicom-2015"), Month.parse("2026-10"), TODAY,
        dsn=database_url, redis_url=None, workers=1, show_progress=False,
    )  # fmt: skip
    token = (await create_token(conn, "ivr"))[1]
    proxy = RedisProxy(redis_url)
    # A generous budget: the test is about which answers come back, not how fast, on a
    # shared machine where 150 lookups at once may queue for a while; the faults last
    # longer than the budget.
    settings = Settings(
        database_url=database_url, redis_url=await proxy.start(), data_dir=tmp_path,
        now=FIXED_NOW, lookup_budget_ms=BUDGET_MS,
    )  # fmt: skip
    app = create_app(settings)
    client = await aiohttp_client(app, connector=aiohttp.TCPConnector(limit=0))
    try:
        result = Crowd(client, app[LOOKUP], token, proxy, expected)
        for msisdn in expected:  # one at a time: PostgreSQL fills the cache
            await one_call(result, msisdn)
        yield result
    finally:
        proxy.mode = "forward"
        await client.close()
        await proxy.close()


async def one_call(crowd: Crowd, msisdn: str) -> tuple[str, int, dict[str, Any]]:
    """One lookup: (number asked, status, body)."""
    response = await crowd.client.get(
        "/v1/ivr/lookup", params={"ani": msisdn}, headers={"Authorization": f"Bearer {crowd.token}"}
    )
    return msisdn, response.status, await response.json()


async def all_at_once(crowd: Crowd) -> list[tuple[str, int, dict[str, Any]]]:
    """Every number looked up at the same time."""
    return await asyncio.gather(*(one_call(crowd, m) for m in crowd.expected))


def not_right(crowd: Crowd, answers: list[tuple[str, int, dict[str, Any]]]) -> list[str]:
    """Answers that are not the full answer for the number asked (the number itself is not shown)."""
    wrong = []
    for asked, status, body in answers:
        level = crowd.expected[asked]
        got = (body.get("msisdn"), body.get("known"), (body.get("tier") or {}).get("level"))
        if status != 200 or got != (asked, level is not None, level) or body.get("degraded"):
            wrong.append(
                f"asked for a {level or 'stranger'}, got known={got[1]} level={got[2]} "
                f"source={body.get('source')} degraded={body.get('degraded')} reason={body.get('reason')}"
            )
    return wrong


async def rounds_until_cache(crowd: Crowd, seconds: float = 20.0) -> None:
    """Rounds of the whole crowd until one is answered entirely from the cache; every answer
    of every round must be right. (A liveness bound, not a speed check.)"""
    deadline = time.monotonic() + seconds
    while True:
        latest = await all_at_once(crowd)
        assert not_right(crowd, latest) == []
        if {body["source"] for _, _, body in latest} == {"cache"}:
            return
        assert time.monotonic() < deadline, [
            (body["source"], body.get("reason")) for _, _, body in latest if body["source"] != "cache"
        ][:5]
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("mode", ["swallow", "delay"])
async def test_a_redis_black_hole_never_gives_a_caller_someone_elses_answer(crowd: Crowd, mode: Mode) -> None:
    """The proxy keeps both sockets open while it swallows every byte (or holds them back
    longer than the budget), then forwards again: during the fault PostgreSQL answers in
    full, no answer is ever another number's, and the cache serves again afterwards
    without a restart."""
    await rounds_until_cache(crowd)

    crowd.proxy.mode, crowd.proxy.delay = mode, DELAY_SECONDS
    fault_until = time.monotonic() + FAULT_SECONDS
    # A quiet start: three calls are lost on their way and the breaker opens. Fewer lost
    # requests than the crowd in flight later is what made replies answer the wrong
    # requests once bytes flowed again.
    during = await asyncio.gather(*(one_call(crowd, number) for number in list(crowd.expected)[:3]))
    while time.monotonic() < fault_until:
        during.extend(await all_at_once(crowd))
    assert not_right(crowd, during) == []
    assert {body["source"] for _, _, body in during} == {"database"}

    crowd.proxy.mode = "forward"
    await rounds_until_cache(crowd)
    after = await all_at_once(crowd)
    assert not_right(crowd, after) == []
    assert {body["source"] for _, _, body in after} == {"cache"}
    assert not crowd.service.redis_breaker.open


async def test_a_key_of_the_wrong_type_is_a_miss_not_an_outage(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    database_url: str,
    redis_url: str,
) -> None:
    tokens = await evaluated_province(conn, database_url)
    app = create_app(settings)
    client = await aiohttp_client(app)
    redis = Redis.from_url(redis_url)
    levels = {FIVE: "five_star", FOUR: "four_star", ONE: "one_star", WITH_MANAGER_FOUR: "four_star"}
    stranger = "13912345678"
    try:
        for msisdn in [*levels, stranger]:
            await redis.lpush(key_of(msisdn)[0], b"not a record")
        # one after another: five WRONGTYPE replies in a row (the breaker opens after three failures)
        answers = [await ask(client, tokens["ivr"], m) for m in [*levels, stranger]]
        assert all(status == 200 for status, _, _ in answers)
        assert [(b["source"], b["degraded"]) for _, b, _ in answers] == [("database", False)] * 5
        assert [b["tier"]["level"] for _, b, _ in answers[:4]] == list(levels.values())
        assert answers[4][1]["known"] is False
        service = app[LOOKUP]
        assert not service.redis_breaker.open and service.redis_breaker.failures == 0
        metrics = await (await client.get("/metrics")).text()
        assert 'callgate_store_errors_total{kind="ReplyError",store="redis"}' not in metrics
        assert 'callgate_breaker_open{store="redis"} 0.0' in metrics
        # the keys were overwritten from PostgreSQL (the stranger's too): the cache answers now
        for msisdn in [*levels, stranger]:
            body = await wait_for(client, tokens["ivr"], msisdn, "cache")
            assert body["known"] is (msisdn != stranger)
            assert await redis.type(key_of(msisdn)[0]) in (b"hash", b"none")  # the list is gone
    finally:
        await redis.aclose()
