"""X2 against a real PostgreSQL primary and a streaming replica made with `pg_basebackup -R`
from the embedded binaries: lookup misses and read-only views read the replica, a grant
reads and writes the primary, and with the replica stopped everything still answers.

The proof of where a read went: the replica's replay is paused, then a subscriber is added
on the primary — a read that finds it went to the primary, one that does not went to the
replica; the replica's own statistics count the lookups' scans."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from gateway.http.app import create_app
from gateway.http.keys import READS
from gateway.settings import Settings
from gateway.stores import db, migrations
from gateway.stores.embedded import EmbeddedPostgres
from gateway.stores.record import key_of
from tests.conftest import FIXED_NOW
from tests.gateway import grants, province
from tests.gateway.grants import GOLD, OTHER, ClientFactory, bearer

DEADLINE_S = 60.0  # a test failure bound, not a speed claim (the machine is shared)


@dataclass(frozen=True, slots=True)
class Replicated:
    """A primary and its streaming replica, both running."""

    primary: EmbeddedPostgres
    replica: EmbeddedPostgres


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[Replicated]:
    primary = EmbeddedPostgres(tmp_path / "primary", durable=False)
    replica = EmbeddedPostgres(tmp_path / "replica", durable=False)
    primary.start()
    try:

        async def migrate() -> None:
            conn = await db.connect(primary.dsn())
            try:
                await migrations.migrate(conn)
            finally:
                await conn.close()

        asyncio.run(migrate())
        replica.clone_from(primary)
        replica.start()
        yield Replicated(primary, replica)
    finally:
        replica.stop("immediate")
        primary.stop("immediate")


async def caught_up(primary: asyncpg.Connection, replica: asyncpg.Connection) -> None:
    """Wait until the replica has replayed everything the primary wrote so far."""
    target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + DEADLINE_S
    while await replica.fetchval("SELECT pg_last_wal_replay_lsn() < $1::pg_lsn", target):
        assert time.monotonic() < deadline, "the replica never caught up"
        await asyncio.sleep(0.05)


async def subscriber_scans(replica: asyncpg.Connection) -> int:
    """Scans of `subscribers` the replica has counted (its statistics are its own)."""
    await replica.execute("SELECT pg_stat_clear_snapshot()")
    return int(
        await replica.fetchval(
            """SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
               FROM pg_stat_user_tables WHERE relname = 'subscribers'"""
        )
    )


@pytest.fixture
async def stores(
    replicated: Replicated, redis_url: str
) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection, grants.Tokens]]:
    primary = await db.connect(replicated.primary.dsn())
    replica = await db.connect(replicated.replica.dsn())
    try:
        await province.branches(primary)
        made = await grants.tokens(primary)
        await grants.customer(primary, GOLD)
        await caught_up(primary, replica)
        yield primary, replica, made
    finally:
        await replica.close()
        await primary.close()


async def get(client: Any, path: str, token: str, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path, params=params, headers=bearer(token))
    return response.status, await response.json(content_type=None)


async def test_misses_and_views_read_the_replica_and_grants_the_primary(
    aiohttp_client: ClientFactory,
    replicated: Replicated,
    stores: tuple[asyncpg.Connection, asyncpg.Connection, grants.Tokens],
    redis_url: str,
    tmp_path: Path,
) -> None:
    # rule X2: misses and read-only views on the replica; what decides and writes on the primary
    primary, replica, tokens = stores
    settings = Settings(
        database_url=replicated.primary.dsn(),
        redis_url=redis_url,
        database_replica_url=replicated.replica.dsn(),
        data_dir=tmp_path,
        now=FIXED_NOW,
        lookup_budget_ms=1000,  # where a read goes is the point here, not its speed (a shared machine)
    )
    client = await aiohttp_client(create_app(settings))
    assert client.app[READS].replica is not None

    scans = await subscriber_scans(replica)
    status, known = await get(client, "/v1/ivr/lookup", tokens.ivr, ani=GOLD)
    assert status == 200 and known["known"] is True and known["source"] == "database"
    deadline = time.monotonic() + DEADLINE_S
    while await subscriber_scans(replica) <= scans:  # the replica flushes its counters within a second
        assert time.monotonic() < deadline, "the replica counted no read of subscribers"
        await asyncio.sleep(0.2)

    # A subscriber the primary has and the paused replica does not.
    await replica.execute("SELECT pg_wal_replay_pause()")
    await grants.customer(primary, OTHER)
    status, miss = await get(client, "/v1/ivr/lookup", tokens.ivr, ani=OTHER)
    assert status == 200 and miss["known"] is False  # the miss read the replica (lagging: unknown)
    status, view = await get(client, f"/v1/subscribers/{OTHER}", tokens.agent)
    assert status == 404 and view["code"] == "unknown_subscriber"  # the read-only view: the replica
    status, revealed = await get(client, f"/v1/subscribers/{OTHER}", tokens.agent, reveal="1")
    assert status == 200 and revealed["known"] is True  # a reveal writes an audit row: the primary

    # The grant decides on the primary (the replica would say unknown_subscriber) and writes there.
    granted, body = await grants.reactivate(client, tokens.agent, "x2-1", grants.reactivation_body(OTHER))
    assert granted == 201, body
    assert await primary.fetchval("SELECT count(*) FROM reactivations WHERE msisdn = $1", OTHER) == 1
    # The cache follows the grant's commit; the replica's older "unknown" never replaces it.
    status, after = await get(client, "/v1/ivr/lookup", tokens.ivr, ani=OTHER)
    assert status == 200 and after["known"] is True and after["source"] == "cache"

    await replica.execute("SELECT pg_wal_replay_resume()")
    await caught_up(primary, replica)
    assert await replica.fetchval("SELECT count(*) FROM reactivations WHERE msisdn = $1", OTHER) == 1


async def test_with_the_replica_stopped_lookups_and_views_still_answer(
    aiohttp_client: ClientFactory,
    replicated: Replicated,
    stores: tuple[asyncpg.Connection, asyncpg.Connection, grants.Tokens],
    redis_url: str,
    tmp_path: Path,
) -> None:
    # rule X2: replica down → the primary, per request and then by the breaker; never an error
    _, replica, tokens = stores
    settings = Settings(
        database_url=replicated.primary.dsn(),
        redis_url=redis_url,
        database_replica_url=replicated.replica.dsn(),
        data_dir=tmp_path,
        now=FIXED_NOW,
        lookup_budget_ms=1000,  # where a read goes is the point here, not its speed (a shared machine)
    )
    client = await aiohttp_client(create_app(settings))
    await replica.close()
    replicated.replica.stop("immediate")
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(5):  # every one a miss: the first few try the replica, then the breaker skips it
            status, body = await get(client, "/v1/ivr/lookup", tokens.ivr, ani=GOLD)
            assert status == 200 and body["known"] is True, body
            assert body["source"] == "database" and body["degraded"] is False
            deadline = time.monotonic() + DEADLINE_S
            while not await redis.hexists(*key_of(GOLD)):  # the fill, off the caller's time, then gone again
                assert time.monotonic() < deadline, "the miss never filled the cache"
                await asyncio.sleep(0.02)
            await redis.hdel(*key_of(GOLD))
    finally:
        await redis.aclose()
    status, view = await get(client, f"/v1/subscribers/{GOLD}", tokens.agent)
    assert status == 200 and view["tier"]["level"] == "gold"
    status, history = await get(
        client,
        "/v1/queue/stats/history",
        tokens.admin,
        **{"from": "2026-11-25T00:00:00+08:00", "to": "2026-11-26T00:00:00+08:00"},
    )
    assert status == 200 and history["items"] == []
    breaker = client.app[READS].breaker
    assert breaker is not None and breaker.open  # later reads go straight to the primary

    # A replica that is down when the service starts does not keep it from starting.
    restarted = await aiohttp_client(create_app(settings))
    status, body = await get(restarted, "/v1/ivr/lookup", tokens.ivr, ani=GOLD)
    assert status == 200 and body["known"] is True
