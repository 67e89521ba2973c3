"""X2: where read-only work reads — a PostgreSQL streaming replica when one is configured
(`CALLGATE_DATABASE_REPLICA_URL`) and answering, else the primary.

Only reads that decide nothing go here: the lookup's cache misses and the read-only
views (the subscriber view, the queue's stored intervals). Everything that writes, and
every read that a write depends on (reactivation, credit, redemption), stays on the
primary. A replica that fails (refused, reset, timed out, in recovery) costs the request
nothing but the attempt: the same work runs again on the primary, and after a few
failures in a row a circuit breaker sends every read to the primary until a background
probe finds the replica answering again.

A replica lags (by milliseconds under streaming replication): what it says may be a
moment old. The lookup therefore fills the cache from it only where no record exists
(`SET NX`), so a record that a writer put there after its commit is never replaced by an
older one (see the README's cache-consistency rule).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from gateway.logs import get_logger
from gateway.metrics import Metrics
from gateway.stores import db
from gateway.stores.breaker import CircuitBreaker

log = get_logger("replica")
T = TypeVar("T")
BREAKER = "postgresql_replica"
#: What a failing replica raises: connection errors, timeouts, and any server error (a
#: read-only view retried on the primary costs one more read; a real fault fails there too).
REPLICA_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class ReadPools:
    """The primary pool and, optionally, a replica pool with its own circuit breaker."""

    def __init__(self, primary: asyncpg.Pool, replica: asyncpg.Pool | None, metrics: Metrics) -> None:
        self.primary = primary
        self.replica = replica
        self.breaker: CircuitBreaker | None = None
        if replica is not None:
            self.breaker = CircuitBreaker(BREAKER, self._probe, metrics, probe_every=1.0, probe_timeout=0.5)

    async def _probe(self, timeout: float) -> None:
        assert self.replica is not None  # the breaker exists only with a replica
        await self.replica.fetchval("SELECT 1", timeout=timeout)

    def replica_now(self) -> asyncpg.Pool | None:
        """The replica pool when configured and its breaker is closed, else None."""
        if self.replica is None or self.breaker is None or not self.breaker.allow():
            return None
        return self.replica

    def succeeded(self) -> None:
        """A read on the replica went through."""
        if self.breaker is not None:
            self.breaker.success()

    def failed(self, exc: BaseException) -> None:
        """A read on the replica failed; the caller reads the primary instead."""
        if self.breaker is not None:
            self.breaker.failure(type(exc).__name__)
        log.warning("replica_read_failed", error=type(exc).__name__)

    async def run(self, work: Callable[[asyncpg.Pool], Awaitable[T]], replica_timeout: float = 2.0) -> T:
        """`work(pool)` on the replica, or on the primary when there is none, it is known to be
        down, or it fails or takes longer than `replica_timeout` seconds this time."""
        replica = self.replica_now()
        if replica is not None:
            try:
                async with asyncio.timeout(replica_timeout):
                    result = await work(replica)
            except REPLICA_FAILURES as exc:
                self.failed(exc)
            else:
                self.succeeded()
                return result
        return await work(self.primary)

    async def close(self) -> None:
        """Close the replica's pool (the primary belongs to its own owner)."""
        if self.replica is not None:
            await self.replica.close()


async def open_replica(
    dsn: str, *, min_size: int = 8, max_size: int = 40, warm: Sequence[tuple[str, tuple[Any, ...]]] = ()
) -> asyncpg.Pool:
    """A pool on the replica, its connections warmed like the primary's (`warm`: the lookup's
    statement is prepared before a caller waits on it), that opens even while the replica
    is down (it connects on demand then): a replica never keeps the service from starting."""
    try:
        return await db.create_pool(dsn, min_size=min_size, max_size=max_size, warm=warm, timeout=2.0)
    except REPLICA_FAILURES as exc:
        log.warning("replica_unavailable_at_start", error=type(exc).__name__)
        return await db.create_pool(dsn, min_size=0, max_size=max_size, warm=warm, timeout=2.0)
