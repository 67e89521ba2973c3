"""The cache protocol of every write path (reactivations, credit, payments, status,
work-order events): evict the subscriber's Redis record before the PostgreSQL commit,
rewrite it from PostgreSQL after.

Evicting first is what makes a crash between the commit and the rewrite harmless: the
record is already gone, so the next lookup misses, reads PostgreSQL and fills it with
the committed state. A Redis failure on either side never fails the request — the
database is the system of record — it is logged and counted in `store_errors`.

Every write path runs its transaction through `cache_follows`, the one place the order
"evict, commit, rewrite" is written down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from entitlements.policy import Policy
from gateway.logs import get_logger, number_ref
from gateway.metrics import Metrics
from gateway.services import cache
from gateway.stores.queries.snapshot import Conn

log = get_logger("consistency")
STORE_FAILURES = (RedisError, OSError, TimeoutError)
#: Records evicted or rewritten per round trip: a points import follows its file's whole
#: list of subscribers, which must not become one DEL or one read of a million numbers.
CHUNK = 10_000


async def evict(redis: Redis, metrics: Metrics, msisdns: Sequence[str], *extra_keys: str) -> bool:
    """Before the commit: delete the subscribers' records and "not a subscriber" marks (and
    `extra_keys`); False on a Redis failure."""
    if not msisdns and not extra_keys:
        return True
    try:
        for start in range(0, max(len(msisdns), 1), CHUNK):
            # The extra keys go with the first chunk.
            await cache.forget(redis, msisdns[start : start + CHUNK], *(() if start else extra_keys))
    except STORE_FAILURES as exc:
        metrics.store_errors.labels("redis", "evict").inc()
        log.warning(
            "cache_evict_failed", error=type(exc).__name__, refs=[number_ref(m) for m in msisdns[:20]]
        )
        return False
    return True


async def refresh(
    conn: Conn, redis: Redis, metrics: Metrics, policy: Policy, msisdns: Sequence[str], today: date
) -> bool:
    """After the commit: rewrite the records from PostgreSQL; False (logged, counted) on failure.

    A failure leaves the record evicted, so the next lookup reads PostgreSQL.
    """
    try:
        for start in range(0, len(msisdns), CHUNK):
            await cache.refresh(conn, redis, msisdns[start : start + CHUNK], policy, today)
    except (*STORE_FAILURES, asyncpg.PostgresError) as exc:
        store = "postgresql" if isinstance(exc, asyncpg.PostgresError) else "redis"
        metrics.store_errors.labels(store, "refresh").inc()
        log.warning(
            "cache_refresh_failed", error=type(exc).__name__, refs=[number_ref(m) for m in msisdns[:20]]
        )
        return False
    return True


class UnitOfWork:
    """Handed to the block of `cache_follows`: what it may tell the helper."""

    __slots__ = ("follows",)

    def __init__(self) -> None:
        self.follows = True

    def unchanged(self) -> None:
        """Nothing the cache holds changed (a refusal, a replay, a reminder): neither evict nor rewrite."""
        self.follows = False


@asynccontextmanager
async def cache_follows(
    conn: Conn,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    msisdns: Sequence[str],
    today: date,
    *,
    also: Sequence[str] = (),
) -> AsyncIterator[UnitOfWork]:
    """One PostgreSQL transaction that the subscribers' cache records follow.

    The block runs inside `conn.transaction()`. When it ends normally the records of
    `msisdns` and the `also` keys are evicted, then the transaction commits, then the
    records are rewritten from PostgreSQL. The `also` keys (the credit state) have no
    rewrite: they are evicted once more after the commit, so a reader that reloaded one
    between the eviction and the commit reloads it again. An exception in the block rolls
    back and leaves the cache alone; a failed commit leaves the records evicted (the next
    lookup reads PostgreSQL). Redis failures are logged and counted, never raised.
    """
    uow = UnitOfWork()
    async with conn.transaction():
        yield uow
        if uow.follows:
            await evict(redis, metrics, msisdns, *also)
    if uow.follows:
        await refresh(conn, redis, metrics, policy, msisdns, today)
        if also:
            await evict(redis, metrics, [], *also)
