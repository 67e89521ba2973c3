"""The circuit breaker: opens after failures in a row, probes in the background through
the connections the hot path uses, closes on the first good probe."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from gateway.metrics import Metrics
from gateway.stores.breaker import CircuitBreaker
from gateway.stores.fastredis import PipelinedRedis
from tests.gateway.redis_proxy import RedisProxy


def gauge(metrics: Metrics, store: str) -> float | None:
    """The breaker_open gauge of `store`."""
    return metrics.registry.get_sample_value("callgate_breaker_open", {"store": store})


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition()` to hold (a liveness bound, not a speed check)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def never_healthy(timeout: float) -> None:
    raise ConnectionError("still down")


async def test_it_opens_after_three_failures_in_a_row_and_not_before() -> None:
    metrics = Metrics()
    breaker = CircuitBreaker("redis", never_healthy, metrics, probe_every=0.01)
    try:
        breaker.failure("timeout")
        breaker.failure("timeout")
        breaker.success()  # a call went through: the count starts again
        breaker.failure("timeout")
        breaker.failure("RedisUnavailable")
        assert breaker.allow() and gauge(metrics, "redis") == 0
        breaker.failure("timeout")
        assert not breaker.allow() and gauge(metrics, "redis") == 1
        await asyncio.sleep(0.05)  # failing probes keep it open
        assert not breaker.allow()
        errors = metrics.registry.get_sample_value(
            "callgate_store_errors_total", {"store": "redis", "kind": "timeout"}
        )
        assert errors == 4
    finally:
        await breaker.close()


async def test_the_probe_is_given_its_timeout_and_the_first_good_probe_closes_it() -> None:
    metrics = Metrics()
    given: list[float] = []
    healthy = asyncio.Event()

    async def probe(timeout: float) -> None:
        given.append(timeout)
        if not healthy.is_set():
            raise ConnectionError("down")

    breaker = CircuitBreaker("postgresql", probe, metrics, probe_every=0.01, probe_timeout=0.15)
    try:
        for _ in range(3):
            breaker.failure("timeout")
        await until(lambda: len(given) >= 2)
        assert not breaker.allow()
        healthy.set()
        await until(breaker.allow)
        assert gauge(metrics, "postgresql") == 0 and breaker.failures == 0
        assert set(given) == {0.15}
    finally:
        await breaker.close()


@pytest.mark.parametrize("mode", ["swallow", "delay"])
async def test_half_open_probes_go_through_the_fast_connections_not_a_side_channel(
    redis_url: str, mode: str
) -> None:
    """Redis itself answers throughout; only the path the lookup uses is broken. The
    breaker must stay open until that path answers, then close onto working connections."""
    middle = RedisProxy(redis_url)
    fast = PipelinedRedis(await middle.start(), connections=2)
    direct = Redis.from_url(redis_url)
    metrics = Metrics()
    breaker = CircuitBreaker("redis", fast.ping, metrics, probe_every=0.02, probe_timeout=0.15)
    try:
        await direct.set("a", b"1")
        assert await fast.get(b"a", timeout=5) == b"1"
        middle.mode, middle.delay = ("swallow", 0.0) if mode == "swallow" else ("delay", 0.6)
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await fast.get(b"a", timeout=0.1)
            breaker.failure("timeout")
        assert not breaker.allow()
        opened = middle.connections
        # probes keep failing on the broken path (each one reconnects, pings, times out) …
        await until(lambda: middle.connections >= opened + 6)
        assert await direct.ping()  # … while a probe on a side connection would have passed
        assert not breaker.allow() and gauge(metrics, "redis") == 1
        middle.mode = "forward"
        await until(breaker.allow)
        assert gauge(metrics, "redis") == 0
        # closed onto connections in step: each call gets its own answer
        await direct.set("b", b"2")
        answers = await asyncio.gather(*(fast.get(k, timeout=5) for k in [b"a", b"b"] * 20))
        assert answers == [b"1", b"2"] * 20
    finally:
        await breaker.close()
        await fast.close()
        await direct.aclose()
        await middle.close()


async def test_close_stops_the_probe() -> None:
    metrics = Metrics()
    calls: list[float] = []

    async def probe(timeout: float) -> None:
        calls.append(timeout)
        raise ConnectionError("down")

    breaker = CircuitBreaker("redis", probe, metrics, probe_every=0.01)
    for _ in range(3):
        breaker.failure("timeout")
    await until(lambda: len(calls) >= 1)
    await breaker.close()
    seen = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == seen
