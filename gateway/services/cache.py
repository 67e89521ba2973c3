"""The Redis cache the hot path reads: one compact record per subscriber.

Consistency rule (README "Cache consistency"): PostgreSQL is the system of record;
the cache is a projection of it. Every write path rewrites the subscriber's record
right after its database commit; a lookup that misses reads
PostgreSQL and fills the record; records carry their own effective dates, so month
boundaries and expiries need no write; `callgate cache rebuild` restores everything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg
from redis.asyncio import Redis

from entitlements.model import Assignment
from entitlements.policy import Policy
from gateway.batch.progress import Progress
from gateway.stores.cluster import is_cluster_client
from gateway.stores.fastredis import PipelinedRedis
from gateway.stores.queries import snapshot, subscribers
from gateway.stores.queries.snapshot import Snapshot
from gateway.stores.record import Record, key, points_part, timeline


def record_for(
    snap: Snapshot, policy: Policy, today: date, serving: list[Assignment] | None = None
) -> Record | None:
    """The cache record of a subscriber; None for a cancelled number (no record is kept).

    `serving` overrides the stored assignments (the evaluation passes the ones it just wrote).
    """
    sub = snap.subscriber
    if sub.status == "cancelled":
        return None
    if serving is None:
        serving = snap.serving(policy.name, policy.transition.legacy_scheme if policy.transition else None)
    current, nxt, nxt_from, refresh_after = timeline(serving, today)
    points, refresh_after = points_part(snap.points, today, refresh_after)  # P3
    return Record(
        policy=policy.name,
        current=current,
        next_tier=nxt,
        next_from=nxt_from,
        status=sub.status,
        payment_mode=sub.payment_mode,
        service_type=sub.service_type,
        arrears_months=snap.arrears_months,
        last_grant_month=snap.last_grant_month,
        grants_in_last_month=snap.grants_in_last_month,
        unpaid_grant=snap.unpaid_grant,
        manager_id=snap.manager_id,
        refresh_after=refresh_after,
        points=points,
    )


def pack(items: Iterable[tuple[str, Record | None]]) -> tuple[bytes, int, int]:
    """SET (or DEL, for None) commands for these records, packed: (payload, written, deleted)."""
    parts: list[bytes] = []
    written = deleted = 0
    for msisdn, record in items:
        name = key(msisdn).encode()
        if record is None:
            parts.append(b"*2\r\n$3\r\nDEL\r\n$%d\r\n%b\r\n" % (len(name), name))
            deleted += 1
        else:
            value = record.encode()
            parts.append(
                b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(name), name, len(value), value)
            )
            written += 1
    return b"".join(parts), written, deleted


async def write_bulk(
    fast: PipelinedRedis, items: Iterable[tuple[str, Record | None]], timeout: float = 30.0
) -> tuple[int, int]:
    """`write_records` over a pipelined connection: one write, one future for all replies.

    The evaluation's refresh of a million records: redis-py reads a reply at a time
    (several µs each); here a reply costs a parser call.
    """
    payload, written, deleted = pack(items)
    if payload:
        await fast.bulk(payload, written + deleted, timeout)
    return written, deleted


async def write_records(redis: Redis, items: Iterable[tuple[str, Record | None]]) -> tuple[int, int]:
    """SET (or DEL, for None) many records in one pipeline; returns (written, deleted).

    Commands are packed by hand and sent on one connection: redis-py's pipeline object
    costs ~30 µs a command, which is most of a million-record refresh.
    """
    if is_cluster_client(redis):  # X1: no one connection holds every key; the cluster pipeline splits by slot
        return await _write_cluster(redis, items)
    payload, written, deleted = pack(items)
    if not payload:
        return 0, 0
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    try:
        await connection.send_packed_command(payload)
        for _ in range(written + deleted):
            reply = await connection.read_response()
            if isinstance(reply, Exception):
                raise reply
    except BaseException:
        await connection.disconnect()  # replies may be left unread: never reuse this socket
        raise
    finally:
        await pool.release(connection)
    return written, deleted


async def _write_cluster(redis: Redis, items: Iterable[tuple[str, Record | None]]) -> tuple[int, int]:
    """`write_records` on a Redis Cluster (redis-py's cluster pipeline: a write per master)."""
    written = deleted = 0
    async with redis.pipeline(transaction=False) as pipe:
        for msisdn, record in items:
            if record is None:
                pipe.delete(key(msisdn))
                deleted += 1
            else:
                pipe.set(key(msisdn), record.encode())
                written += 1
        if written + deleted:
            await pipe.execute()
    return written, deleted


async def write(redis: Redis, snaps: Iterable[Snapshot], policy: Policy, today: date) -> tuple[int, int]:
    """Write (or delete) the records of these subscribers in one pipeline; (written, deleted)."""
    return await write_records(redis, ((s.subscriber.msisdn, record_for(s, policy, today)) for s in snaps))


async def refresh(
    conn: snapshot.Conn, redis: Redis, msisdns: Sequence[str], policy: Policy, today: date
) -> None:
    """Re-read these subscribers from PostgreSQL and rewrite their records (after a commit)."""
    snaps = await snapshot.load_many(conn, msisdns, today)
    known = {s.subscriber.msisdn for s in snaps}
    await write(redis, snaps, policy, today)
    gone = [m for m in msisdns if m not in known]
    if gone:
        await redis.delete(*[key(m) for m in gone])


@dataclass(frozen=True, slots=True)
class RebuildSummary:
    """What a full rebuild wrote."""

    written: int
    deleted: int
    seconds: float


async def rebuild(
    conn: asyncpg.Connection, redis: Redis, policy: Policy, today: date, *, show_progress: bool = True
) -> RebuildSummary:
    """Rewrite every subscriber's record from PostgreSQL."""
    started = time.monotonic()
    total = await subscribers.count(conn)
    progress = Progress("cache rebuild", total, unit="subscribers") if show_progress else None
    written = deleted = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for chunk in snapshot.iterate(conn, today=today):
            w, d = await write(redis, chunk, policy, today)
            written += w
            deleted += d
            if progress:
                progress.advance(len(chunk))
    if progress:
        progress.finish()
    return RebuildSummary(written, deleted, time.monotonic() - started)
