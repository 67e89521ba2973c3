"""The pipelined Redis client against real Redis: bulk writes (the evaluation's cache
refresh), and what it does when replies are late, lost, refused or answered with an error.
Faults come from a real TCP proxy (tests/gateway/redis_proxy.py) or from Redis itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import pytest
from redis.asyncio import Redis

from entitlements.model import Tier
from gateway.services import cache
from gateway.stores.fastredis import PipelinedRedis, RedisUnavailable, ReplyError
from gateway.stores.record import Record, key_of
from tests.gateway.redis_proxy import RedisProxy


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
        with pytest.raises(ReplyError, match="WRONGTYPE"):
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
        await client.hset(*key_of("18600000003"), b"stale")
        items = [
            ("18600000001", _record("three_star")),
            ("18600000002", _record("five_star")),
            ("18600000003", None),
        ]
        assert await cache.write_bulk(fast, items) == (2, 1)
        for msisdn, record in items[:2]:
            raw = await client.hget(*key_of(msisdn))
            assert isinstance(raw, bytes) and Record.decode(raw) == record
        assert await client.hexists(*key_of("18600000003")) is False
        assert await cache.write_bulk(fast, []) == (0, 0)
    finally:
        await fast.close()
        await client.aclose()


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[tuple[RedisProxy, PipelinedRedis, Redis]]:
    """A proxy in front of the test Redis, a pipelined client through it (one connection,
    so every call shares it), and a redis-py client straight to Redis, with a=1, b=2."""
    middle = RedisProxy(redis_url)
    fast = PipelinedRedis(await middle.start(), connections=1)
    direct = Redis.from_url(redis_url)
    await direct.mset({"a": b"1", "b": b"2"})
    try:
        yield middle, fast, direct
    finally:
        await fast.close()
        await direct.aclose()
        await middle.close()


async def until(condition: object, seconds: float = 10.0) -> None:
    """Wait for `condition()` to hold (a liveness bound, not a speed check)."""
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("mode", ["swallow", "delay"])
async def test_a_late_reply_drops_the_connection_and_the_next_call_gets_its_own_answer(
    proxy: tuple[RedisProxy, PipelinedRedis, Redis], mode: str
) -> None:
    middle, fast, _ = proxy
    assert await fast.get(b"a", timeout=5) == b"1"
    middle.mode, middle.delay = ("swallow", 0.0) if mode == "swallow" else ("delay", 1.0)
    with pytest.raises(TimeoutError):
        await fast.get(b"a", timeout=0.2)
    middle.mode = "forward"
    # the late call's connection is gone: a new one answers this call with its own value
    assert await fast.get(b"b", timeout=5) == b"2"
    assert await fast.get(b"a", timeout=5) == b"1"
    assert middle.connections == 2


async def test_a_lost_reply_is_never_matched_to_a_later_request(
    proxy: tuple[RedisProxy, PipelinedRedis, Redis],
) -> None:
    middle, fast, _ = proxy
    assert await fast.get(b"a", timeout=5) == b"1"
    middle.mode = "swallow"
    first = asyncio.create_task(fast.get(b"a", timeout=5))  # lost on the way to Redis
    await until(lambda: middle.swallowed > 0)
    middle.mode = "forward"
    second = asyncio.create_task(fast.get(b"b", timeout=5))
    # b's reply is the next one on the wire, in a's place: neither call may take it
    for call in (first, second):
        with pytest.raises(RedisUnavailable, match="out of step"):
            await call
    assert await fast.get(b"a", timeout=5) == b"1"
    assert await fast.get(b"b", timeout=5) == b"2"


async def test_every_call_pending_on_a_late_connection_fails_over_at_once(
    proxy: tuple[RedisProxy, PipelinedRedis, Redis],
) -> None:
    middle, fast, _ = proxy
    assert await fast.get(b"a", timeout=5) == b"1"
    middle.mode = "swallow"
    short = asyncio.create_task(fast.get(b"a", timeout=0.2))
    longer = [asyncio.create_task(fast.get(b"b", timeout=30)) for _ in range(5)]
    with pytest.raises(TimeoutError):
        await short
    # the others are not left waiting for replies that would answer someone else
    results = await asyncio.wait_for(asyncio.gather(*longer, return_exceptions=True), 10)
    assert all(isinstance(r, RedisUnavailable) for r in results), results
    middle.mode = "forward"
    assert await fast.get(b"b", timeout=5) == b"2"


async def test_the_server_closing_the_socket_fails_pending_calls_and_the_next_call_reconnects(
    redis_url: str,
) -> None:
    fast = PipelinedRedis(redis_url, connections=1)
    direct = Redis.from_url(redis_url)
    try:
        await direct.set("a", b"1")
        blocked = asyncio.create_task(fast.execute([(b"BLPOP", b"empty-list", b"0")], timeout=30))
        await until(lambda: fast.connections[0] is not None and len(fast.connections[0].pending) > 0)
        await asyncio.sleep(0.05)  # the BLPOP reaches Redis
        killed = await direct.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
        with pytest.raises(RedisUnavailable, match="connection lost"):
            await asyncio.wait_for(blocked, 10)  # at once, not after the call's 30 s
        assert await fast.get(b"a", timeout=5) == b"1"
    finally:
        await fast.close()
        await direct.aclose()


async def test_an_error_reply_is_an_answer_not_an_outage(redis_url: str) -> None:
    fast = PipelinedRedis(redis_url, connections=1)
    direct = Redis.from_url(redis_url)
    try:
        await direct.lpush("a-list", b"x")
        await direct.set("a", b"1")
        assert await fast.get(b"a", timeout=5) == b"1"
        connection = fast.connections[0]
        with pytest.raises(ReplyError, match="WRONGTYPE") as raised:
            await fast.get(b"a-list", timeout=5)
        assert not isinstance(raised.value, RedisUnavailable)
        # the same connection goes on, in step
        assert fast.connections[0] is connection and connection is not None and not connection.closed
        assert await fast.get(b"a", timeout=5) == b"1"
        with pytest.raises(ReplyError, match="WRONGTYPE"):
            await fast.execute([(b"SET", b"c", b"3"), (b"INCR", b"a-list")], timeout=5)
        assert await fast.get(b"c", timeout=5) == b"3"
    finally:
        await fast.close()
        await direct.aclose()


async def test_ping_checks_every_connection_it_will_use(redis_url: str) -> None:
    middle = RedisProxy(redis_url)
    fast = PipelinedRedis(await middle.start(), connections=2)
    direct = Redis.from_url(redis_url)
    try:
        await direct.set("a", b"1")
        await fast.ping(5)
        assert all(c is not None and not c.closed for c in fast.connections)
        middle.mode = "swallow"
        with pytest.raises(TimeoutError):
            await fast.ping(0.2)
        assert all(c is not None and c.closed for c in fast.connections)
        middle.mode = "forward"
        await fast.ping(5)
        assert await fast.get(b"a", timeout=5) == b"1"
    finally:
        await fast.close()
        await direct.aclose()
        await middle.close()


async def test_a_connection_that_opens_after_its_caller_gave_up_is_kept_not_leaked(redis_url: str) -> None:
    # Under load a lookup's budget can run out while its connection is still being set up
    # (here: the SELECT's reply held back 0.3 s). The connection must still be kept when it
    # opens: opened again by the next call, the first socket was left to the garbage
    # collector (an "unclosed transport" ResourceWarning in the suite under load).
    middle = RedisProxy(redis_url, mode="delay", delay=0.3)
    url = (await middle.start()).removesuffix("/0") + "/1"
    fast = PipelinedRedis(url, connections=1)
    try:
        with pytest.raises(TimeoutError):
            await fast.get(b"nothing-here", timeout=0.05)
        for _ in range(100):  # until the SELECT's reply arrived
            if fast.connections[0] is not None:
                break
            await asyncio.sleep(0.02)
        kept = fast.connections[0]
        assert kept is not None and not kept.closed
        middle.mode = "forward"
        assert await fast.get(b"nothing-here", timeout=1.0) is None
        assert fast.connections[0] is kept
        assert middle.connections == 1  # the second call used the first connection
    finally:
        await fast.close()
        await middle.close()
    assert kept.closed
