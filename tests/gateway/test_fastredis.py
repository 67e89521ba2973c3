"""The pipelined Redis client's bulk write (the evaluation's cache refresh), against real Redis."""

from __future__ import annotations

from datetime import date

import pytest
from redis.asyncio import Redis

from entitlements.model import Tier
from gateway.services import cache
from gateway.stores.fastredis import PipelinedRedis, RedisUnavailable
from gateway.stores.record import Record, key


def _record(level: str) -> Record:
    return Record(
        policy="unicom-2015",
        current=Tier("star", level, date(2027, 12, 31)),
        next_tier=None,
        next_from=None,
        status="active",
        payment_mode="postpaid",
        service_type="mobile",
        arrears_months=0,
        last_grant_month=None,
        grants_in_last_month=0,
        unpaid_grant=False,
        manager_id=None,
        refresh_after=date(2027, 12, 31),
    )


async def test_bulk_returns_every_reply_in_order(redis_url: str) -> None:
    fast = PipelinedRedis(redis_url, connections=1)
    try:
        payload = (
            b"".join(b"*3\r\n$3\r\nSET\r\n$2\r\nk%d\r\n$1\r\n%d\r\n" % (i, i) for i in range(10))
            + b"*2\r\n$3\r\nGET\r\n$2\r\nk7\r\n"
        )
        assert await fast.bulk(payload, 11, timeout=5) == [b"OK"] * 10 + [b"7"]
    finally:
        await fast.close()


async def test_an_error_reply_fails_the_bulk_and_the_connection_stays_usable(redis_url: str) -> None:
    fast = PipelinedRedis(redis_url, connections=1)
    try:
        payload = (
            b"*3\r\n$5\r\nLPUSH\r\n$4\r\nlist\r\n$1\r\nx\r\n"
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
            b"*2\r\n$4\r\nINCR\r\n$4\r\nlist\r\n"  # WRONGTYPE
            b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
        )
        with pytest.raises(RedisUnavailable, match="WRONGTYPE"):
            await fast.bulk(payload, 4, timeout=5)
        # every reply of the failed bulk was read: the next command gets its own reply
        assert await fast.get(b"b", timeout=5) == b"2"
        assert await fast.execute([(b"GET", b"a")], timeout=5) == [b"1"]
    finally:
        await fast.close()


async def test_write_bulk_sets_and_deletes_what_redis_py_reads_back(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    fast = PipelinedRedis(redis_url, connections=1)
    try:
        await client.set(key("18600000003"), b"stale")
        items = [
            ("18600000001", _record("three_star")),
            ("18600000002", _record("five_star")),
            ("18600000003", None),
        ]
        assert await cache.write_bulk(fast, items) == (2, 1)
        for msisdn, record in items[:2]:
            raw = await client.get(key(msisdn))
            assert isinstance(raw, bytes) and Record.decode(raw) == record
        assert await client.exists(key("18600000003")) == 0
        assert await cache.write_bulk(fast, []) == (0, 0)
    finally:
        await fast.close()
        await client.aclose()
