"""`PipelinedRedis.execute_raw` with a hard timeout (the queue engine's round trips, A4): the
budget is the server's time, not this process's. A server silent past it is given up on; a
process too busy to write or read in time is not mistaken for a dead server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from gateway.stores.fastredis import PipelinedRedis
from gateway.stores.queuestore import command
from tests.gateway.redis_proxy import RedisProxy


@pytest.fixture
async def proxied(redis_url: str) -> AsyncIterator[tuple[RedisProxy, PipelinedRedis]]:
    middle = RedisProxy(redis_url)
    fast = PipelinedRedis(await middle.start(), connections=1)
    try:
        yield middle, fast
    finally:
        await fast.close()
        await middle.close()


PING = command(b"PING")


async def busy_while_sending(fast: PipelinedRedis, *, patient: bool) -> asyncio.Task[list[object]]:
    """Start a PING, then block the event loop for longer than the budget before it is written."""
    hard = 5.0 if patient else None
    task = asyncio.ensure_future(fast.execute_raw(PING, 1, 0.05, hard_timeout=hard))
    await asyncio.sleep(0)  # the call queues its write
    time.sleep(0.2)  # blocking on purpose: this process is busy, the server is not
    return task


async def test_a_busy_process_is_not_a_dead_server(proxied: tuple[RedisProxy, PipelinedRedis]) -> None:
    # rule A4: a burst on this process must not turn into 503s
    _, fast = proxied
    assert await fast.execute_raw(PING, 1, 5.0) == [b"PONG"]  # connected
    assert await (await busy_while_sending(fast, patient=True)) == [b"PONG"]
    strict = await busy_while_sending(fast, patient=False)
    with pytest.raises(TimeoutError):  # the plain call counts the process's own delay against the server
        await strict


async def test_a_silent_server_is_given_up_on(proxied: tuple[RedisProxy, PipelinedRedis]) -> None:
    # rule A4: Redis that answers nothing → the round trip fails (the engine answers 503)
    middle, fast = proxied
    assert await fast.execute_raw(PING, 1, 5.0) == [b"PONG"]
    middle.mode = "swallow"
    with pytest.raises(TimeoutError):
        await fast.execute_raw(PING, 1, 0.05, hard_timeout=5.0)
    middle.mode = "forward"
    assert await fast.execute_raw(PING, 1, 5.0) == [b"PONG"]  # a new connection
