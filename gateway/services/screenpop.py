"""Screen pop: when the ACD connects a call to an agent, the agent's open widget shows
the caller within a second, from the lookup already made for that call.

Events reach the worker holding the agent's event stream through Redis pub/sub (a
worker delivers its own events directly, so a dead Redis only cuts across workers).
The last few calls per agent are kept in Redis for the widget's short history."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import defaultdict
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.logs import get_logger
from gateway.stores.fastredis import PipelinedRedis

log = get_logger("screenpop")
CHANNEL_PREFIX = "agent-events:"
HISTORY = 10
HISTORY_TTL = 86_400


def history_key(agent_id: str) -> str:
    """The Redis list of an agent's recent calls."""
    return f"agent-calls:{{{agent_id}}}"


class ScreenPop:
    """Local subscribers per agent, fed by this worker and by Redis pub/sub."""

    def __init__(self, redis: Redis, fast: PipelinedRedis) -> None:
        self.redis = redis
        self.fast = fast
        self._outbox: list[tuple[str, bytes]] = []
        self.worker = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.subscribers: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)

    def subscribe(self, agent_id: str) -> asyncio.Queue[bytes]:
        """A queue receiving the agent's events (JSON bytes)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100)
        self.subscribers[agent_id].add(queue)
        return queue

    def unsubscribe(self, agent_id: str, queue: asyncio.Queue[bytes]) -> None:
        """Stop delivering to a closed stream."""
        self.subscribers[agent_id].discard(queue)
        if not self.subscribers[agent_id]:
            del self.subscribers[agent_id]

    def _deliver(self, agent_id: str, event: bytes) -> int:
        delivered = 0
        for queue in list(self.subscribers.get(agent_id, ())):
            with contextlib.suppress(asyncio.QueueFull):  # a stuck widget loses old pops, not new ones
                queue.put_nowait(event)
                delivered += 1
        return delivered

    async def publish(self, agent_id: str, call_id: str, answer: Any, connected_at: str) -> dict[str, Any]:
        """Deliver a connected call to the agent's widgets everywhere; keep it in the history."""
        event = {"call_id": call_id, "agent_id": agent_id, "connected_at": connected_at, "answer": answer}
        payload = orjson.dumps(event)
        self._deliver(agent_id, payload)
        self._outbox.append((agent_id, payload))  # to Redis with the next flush (≤ 20 ms)
        return event

    async def flush(self) -> None:
        """Write the queued events to the history lists and the other workers, in one go."""
        if not self._outbox:
            return
        batch, self._outbox = self._outbox, []
        commands: list[tuple[bytes, ...]] = []
        origin = self.worker.encode() + b"|"
        for agent_id, payload in batch:
            history = history_key(agent_id).encode()
            commands += [
                (b"LPUSH", history, payload),
                (b"LTRIM", history, b"0", str(HISTORY - 1).encode()),
                (b"EXPIRE", history, str(HISTORY_TTL).encode()),
                (b"PUBLISH", (CHANNEL_PREFIX + agent_id).encode(), origin + payload),
            ]
        try:
            await self.fast.execute(commands, 1.0)
        except (OSError, TimeoutError) as exc:  # RedisUnavailable is an OSError
            log.warning("screenpop_redis_failed", error=type(exc).__name__, events=len(batch))

    async def run_flusher(self) -> None:
        """Flush every 20 ms: a screen pop reaches other workers well within a second."""
        while True:
            await asyncio.sleep(0.02)
            await self.flush()

    async def history(self, agent_id: str) -> list[Any]:
        """The agent's recent calls, newest first (empty when Redis is unavailable)."""
        try:
            async with asyncio.timeout(0.5):
                items = await self.redis.lrange(history_key(agent_id), 0, HISTORY - 1)
        except (RedisError, OSError, TimeoutError):
            return []
        return [orjson.loads(item) for item in items]

    async def listen(self) -> None:
        """Relay other workers' events from Redis to this worker's streams; reconnect on failure."""
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    origin, _, payload = bytes(message["data"]).partition(b"|")
                    if origin.decode() == self.worker:
                        continue  # delivered directly already
                    agent_id = bytes(message["channel"]).decode()[len(CHANNEL_PREFIX) :]
                    self._deliver(agent_id, payload)
            except (RedisError, OSError) as exc:
                log.warning("screenpop_listen_failed", error=type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()


def sse(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """One Server-Sent Event frame."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return head.encode() + b"data: " + data + b"\n\n"


def now_ms() -> int:
    """Milliseconds since the epoch (event ids)."""
    return int(time.time() * 1000)
