"""`cache_follows`, the unit of work of every write path (README "Cache consistency"):
the subscriber's record is evicted before the commit and rewritten after it; a failed
commit leaves it evicted and the database unchanged. Real PostgreSQL and Redis.

The moment between the eviction and the commit is made observable with a deferred
constraint trigger that, at commit, waits for an advisory lock the test holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest
from redis.asyncio import Redis

from entitlements.policy import load_policy
from gateway.metrics import Metrics
from gateway.services import cache
from gateway.services.consistency import cache_follows
from gateway.services.credit import state_key
from gateway.stores import db
from gateway.stores.queries import subscribers
from tests.gateway import grants, province
from tests.gateway.grants import GOLD

POLICY = load_policy("unicom-2015")
TODAY = date(2026, 11, 26)
NOW = grants.at("2026-11-26T10:00:00+08:00")
COMMIT_LOCK = 4242

# At commit, every updated subscriber row first waits for the test's advisory lock.
HOLD_COMMIT = f"""
CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock({COMMIT_LOCK}); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER hold_commit AFTER UPDATE ON subscribers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit();
"""
# At commit, every updated subscriber row is refused.
REFUSE_COMMIT = """
CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
CREATE CONSTRAINT TRIGGER refuse_commit AFTER UPDATE ON subscribers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
"""


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def suspended(conn: asyncpg.Connection, redis: Redis) -> asyncpg.Connection:
    """A suspended customer whose cache record holds the committed state."""
    await province.branches(conn)
    await grants.customer(conn, status="suspended")
    await cache.refresh(conn, redis, [GOLD], POLICY, TODAY)
    return conn


async def status_in_db(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD))


async def cached_status(redis_url: str) -> str | None:
    record = await grants.cached(redis_url, GOLD)
    return None if record is None else record.status


async def until_commit_waits(observer: asyncpg.Connection, writer: asyncio.Task[None]) -> None:
    """Return once the writer's commit waits for the advisory lock (a state, polled)."""
    while not await observer.fetchval(
        "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted",
        COMMIT_LOCK,
    ):
        if writer.done():
            writer.result()  # raises what the writer raised
            raise AssertionError("the writer committed without waiting for the lock")
        await asyncio.sleep(0.01)


async def test_the_record_is_gone_before_the_commit_and_rewritten_after_it(
    suspended: asyncpg.Connection, database_url: str, redis: Redis, redis_url: str
) -> None:
    conn = suspended
    assert await cached_status(redis_url) == "suspended"
    await conn.execute(HOLD_COMMIT)
    await redis.set(state_key(GOLD), b"old credit state")
    writer = await db.connect(database_url)
    await conn.execute("SELECT pg_advisory_lock($1)", COMMIT_LOCK)

    async def lift() -> None:
        async with cache_follows(
            writer, redis, Metrics(), POLICY, [GOLD], TODAY, also=[state_key(GOLD)]
        ) as uow:
            await subscribers.set_status(writer, GOLD, "active", NOW)
            assert uow.follows

    task = asyncio.create_task(lift())
    try:
        await until_commit_waits(conn, task)
        # Between the eviction and the commit: no record, no credit state, the old row.
        assert await cached_status(redis_url) is None
        assert await redis.exists(state_key(GOLD)) == 0
        assert await status_in_db(conn) == "suspended"
        # A reader reloads the credit state from the not yet committed database …
        await redis.set(state_key(GOLD), b"reloaded before the commit")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", COMMIT_LOCK)
        await task
        await writer.close()
    # … after the commit the record holds the committed state, the stale credit state is gone.
    assert await status_in_db(conn) == "active"
    assert await cached_status(redis_url) == "active"
    assert await redis.exists(state_key(GOLD)) == 0


async def test_a_failed_commit_leaves_the_record_evicted_and_the_database_unchanged(
    suspended: asyncpg.Connection, redis: Redis, redis_url: str
) -> None:
    conn = suspended
    await conn.execute(REFUSE_COMMIT)
    with pytest.raises(asyncpg.RaiseError, match="refused at commit"):
        async with cache_follows(conn, redis, Metrics(), POLICY, [GOLD], TODAY):
            await subscribers.set_status(conn, GOLD, "active", NOW)
    assert await status_in_db(conn) == "suspended"
    assert await cached_status(redis_url) is None  # the next lookup reads PostgreSQL


async def test_an_error_in_the_block_rolls_back_and_leaves_the_cache_alone(
    suspended: asyncpg.Connection, redis: Redis, redis_url: str
) -> None:
    conn = suspended

    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        async with cache_follows(conn, redis, Metrics(), POLICY, [GOLD], TODAY):
            await subscribers.set_status(conn, GOLD, "active", NOW)
            raise Refused
    assert await status_in_db(conn) == "suspended"
    assert await cached_status(redis_url) == "suspended"  # still right: nothing was committed


async def test_an_unchanged_unit_of_work_neither_evicts_nor_rewrites(
    suspended: asyncpg.Connection, redis: Redis, redis_url: str
) -> None:
    conn = suspended
    await redis.set(state_key(GOLD), b"credit state")
    async with cache_follows(conn, redis, Metrics(), POLICY, [GOLD], TODAY, also=[state_key(GOLD)]) as uow:
        # A write the record does not show (say, a wrong-password count); here a status
        # change, so that a rewrite would be visible in the record.
        await subscribers.set_status(conn, GOLD, "active", NOW)
        uow.unchanged()
    assert await status_in_db(conn) == "active"
    assert await cached_status(redis_url) == "suspended"
    assert await redis.get(state_key(GOLD)) == b"credit state"


async def test_a_redis_failure_does_not_fail_the_unit_of_work(
    suspended: asyncpg.Connection, redis_url: str
) -> None:
    # The database is the system of record: an unreachable Redis is counted, not raised.
    conn = suspended
    metrics = Metrics()
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        async with cache_follows(conn, unreachable, metrics, POLICY, [GOLD], TODAY):
            await subscribers.set_status(conn, GOLD, "active", NOW)
    finally:
        await unreachable.aclose()
    assert await status_in_db(conn) == "active"
    errors = {
        kind: metrics.registry.get_sample_value(
            "callgate_store_errors_total", {"store": "redis", "kind": kind}
        )
        for kind in ("evict", "refresh")
    }
    assert errors == {"evict": 1.0, "refresh": 1.0}
