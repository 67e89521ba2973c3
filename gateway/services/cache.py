"""The Redis cache the hot path reads: one compact record per subscriber, many subscribers
to a Redis hash (`record.key_of`: the one place the key is made).

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
from gateway.stores.fastredis import PipelinedRedis, commands_of
from gateway.stores.queries import snapshot, subscribers
from gateway.stores.queries.snapshot import Snapshot
from gateway.stores.record import Record, key_of, points_part, timeline, unknown_key


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


def _bulk(head: bytes, key: bytes, args: list[bytes]) -> bytes:
    """One RESP command: `head` (the command name, RESP-encoded), its key, then `args`."""
    parts = [b"*%d\r\n%b$%d\r\n%b\r\n" % (len(args) + 2, head, len(key), key)]
    parts += [b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args]
    return b"".join(parts)


_HSET = b"$4\r\nHSET\r\n"
_HDEL = b"$4\r\nHDEL\r\n"
_DEL = b"$3\r\nDEL\r\n"


def pack(items: Iterable[tuple[str, Record | None]]) -> tuple[bytes, int, int, int]:
    """HSET (or HDEL, for None) commands for these records, one of each per bucket: (payload,
    commands, written, deleted). The last entry of a number in `items` wins."""
    buckets: dict[bytes, dict[bytes, bytes | None]] = {}
    for msisdn, record in items:
        bucket, field = key_of(msisdn)
        fields = buckets.get(bucket)
        if fields is None:
            fields = buckets[bucket] = {}
        fields[field] = record.encode() if record is not None else None
    parts: list[bytes] = []
    written = deleted = 0
    for bucket, fields in buckets.items():
        pairs: list[bytes] = []
        gone: list[bytes] = []
        for field, value in fields.items():
            if value is None:
                gone.append(field)
            else:
                pairs += (field, value)
        if pairs:
            parts.append(_bulk(_HSET, bucket, pairs))
            written += len(pairs) // 2
        if gone:
            parts.append(_bulk(_HDEL, bucket, gone))
            deleted += len(gone)
    return b"".join(parts), len(parts), written, deleted


def pack_forget(msisdns: Sequence[str], extra_keys: Sequence[str | bytes] = ()) -> tuple[bytes, int]:
    """Commands deleting these numbers' records, their "not a subscriber" marks and
    `extra_keys`: (payload, commands)."""
    payload, commands, _, _ = pack((m, None) for m in msisdns)
    names = [unknown_key(m) for m in msisdns] + [k.encode() if isinstance(k, str) else k for k in extra_keys]
    if names:
        payload += _bulk(_DEL, names[0], names[1:])
        commands += 1
    return payload, commands


async def write_bulk(
    fast: PipelinedRedis, items: Iterable[tuple[str, Record | None]], timeout: float = 30.0
) -> tuple[int, int]:
    """`write_records` over a pipelined connection: one write, one future for all replies.

    The evaluation's refresh of a million records: redis-py reads a reply at a time
    (several µs each); here a reply costs a parser call.
    """
    payload, commands, written, deleted = pack(items)
    if payload:
        await fast.bulk(payload, commands, timeout)
    return written, deleted


async def send_packed(redis: Redis, payload: bytes, commands: int) -> None:
    """Send commands packed by hand on one connection and read their replies; the first
    error reply is raised (after every reply was read).

    redis-py's pipeline object costs ~30 µs a command, which is most of a million-record
    refresh.
    """
    if not commands:
        return
    if is_cluster_client(redis):  # X1: no one connection holds every key; a write per master
        await _send_cluster(redis, payload)
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    error: Exception | None = None
    try:
        await connection.send_packed_command(payload)
        for _ in range(commands):
            reply = await connection.read_response()
            if isinstance(reply, Exception) and error is None:
                error = reply
    except BaseException:
        await connection.disconnect()  # replies may be left unread: never reuse this socket
        raise
    finally:
        await pool.release(connection)
    if error is not None:
        raise error


async def write_records(redis: Redis, items: Iterable[tuple[str, Record | None]]) -> tuple[int, int]:
    """HSET (or HDEL, for None) many records in one round trip; returns (written, deleted)."""
    payload, commands, written, deleted = pack(items)
    await send_packed(redis, payload, commands)
    return written, deleted


async def forget(redis: Redis, msisdns: Sequence[str], *extra_keys: str) -> None:
    """Delete these numbers' records and "not a subscriber" marks, and `extra_keys`, in one
    round trip (an eviction: the next lookup reads PostgreSQL)."""
    await send_packed(redis, *pack_forget(msisdns, extra_keys))


async def _send_cluster(redis: Redis, payload: bytes) -> None:
    """`send_packed` on a Redis Cluster: redis-py's cluster pipeline sends each master its
    commands; a DEL of several keys (an eviction's marks) goes key by key, as the keys may
    live on different slots. The first error reply is raised."""
    async with redis.pipeline(transaction=False) as pipe:
        for _, (name, *args) in commands_of(payload):
            if name == b"DEL":
                for one in args:
                    pipe.execute_command("DEL", one)
            else:
                pipe.execute_command(name.decode(), *args)
        replies = await pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


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
        await write_records(redis, ((m, None) for m in gone))


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
        # (a record needs the months in arrears from bills, no month by month: folded bills do)
        async for chunk in snapshot.iterate(conn, today=today, bills_from=snapshot.NO_MONTHS):
            w, d = await write(redis, chunk, policy, today)
            written += w
            deleted += d
            if progress:
                progress.advance(len(chunk))
    if progress:
        progress.finish()
    await drop_legacy_keys(redis)
    return RebuildSummary(written, deleted, time.monotonic() - started)


async def drop_legacy_keys(redis: Redis) -> int:
    """Remove the one-key-per-subscriber records (`s:{MSISDN}`) of versions before the
    buckets: nothing reads them any more. The number removed."""
    removed = 0
    batch: list[bytes] = []
    async for name in redis.scan_iter(match="s:{*", count=10_000):
        batch.append(name)
        if len(batch) >= 10_000:
            removed += await redis.unlink(*batch)
            batch.clear()
    if batch:
        removed += await redis.unlink(*batch)
    return removed
