"""A pipelined Redis GET for the lookup's hot path.

redis-py spends most of a cache hit in its general machinery (retry wrapper, pool
locks, per-command futures). The lookup needs one command, GET, thousands of times a
second: here every GET is written straight to one of a few long-lived connections and
its reply is matched in order by hiredis's parser (the C parser redis-py uses too).
Many GETs are in flight on a connection at once, so there is no pool to wait for.
Everything else in callgate uses redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis


class RedisUnavailable(ConnectionError):
    """The connection failed or was lost; callers treat it like any store failure."""


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class _Batch:
    """The replies of a bulk write: one future for `count` replies, not one each."""

    __slots__ = ("count", "error", "future", "replies")

    def __init__(self, future: asyncio.Future[Any], count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []
        self.error: str | None = None


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.pending: deque[asyncio.Future[Any] | _Batch] = deque()
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.closed = False
        self.outgoing: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            head = self.pending[0]
            if type(head) is _Batch:
                self._batch_reply(head, reply)
                continue
            future = self.pending.popleft()
            assert not isinstance(future, _Batch)
            if future.done():  # timed out meanwhile: its reply is dropped, order is kept
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(RedisUnavailable(str(reply)))
            else:
                future.set_result(reply)

    def _batch_reply(self, batch: _Batch, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError) and batch.error is None:
            batch.error = str(reply)
        batch.replies.append(reply)
        if len(batch.replies) == batch.count:
            self.pending.popleft()
            if not batch.future.done():
                if batch.error is not None:
                    batch.future.set_exception(RedisUnavailable(batch.error))
                else:
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.pending:
            entry = self.pending.popleft()
            future = entry.future if isinstance(entry, _Batch) else entry
            if not future.done():
                future.set_exception(RedisUnavailable(f"connection lost: {exc}"))

    def send(self, payload: bytes, replies: int = 1) -> list[asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(replies)]
        self.pending.extend(futures)
        # Commands issued in the same event-loop turn go out in one write (one syscall).
        self.outgoing.append(payload)
        if len(self.outgoing) == 1:
            loop.call_soon(self._write)
        return futures

    def send_batch(self, payload: bytes, replies: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append(_Batch(future, replies))
        self.outgoing.append(payload)
        self._write()
        return future

    def _write(self) -> None:
        if self.outgoing and not self.closed:
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()


def _expire(futures: list[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(TimeoutError())


class PipelinedRedis:
    """GET over a few pipelined connections, with a per-call timeout."""

    def __init__(self, url: str, connections: int = 2, max_in_flight: int = 5000) -> None:
        self.url = url
        self.size = connections
        self.max_in_flight = max_in_flight
        self.connections: list[_Protocol | None] = [None] * connections
        self.next = 0
        self._connecting: list[asyncio.Future[_Protocol] | None] = [None] * connections

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        parsed = urlparse(self.url)
        if parsed.scheme == "unix":
            _, protocol = await loop.create_unix_connection(_Protocol, parsed.path)
        else:
            context = ssl.create_default_context() if parsed.scheme == "rediss" else None
            _, protocol = await loop.create_connection(
                _Protocol, parsed.hostname or "localhost", parsed.port or 6379, ssl=context
            )
        setup = []
        if parsed.password:
            user = unquote(parsed.username) if parsed.username else None
            auth = (b"AUTH", user.encode(), unquote(parsed.password).encode()) if user else (
                b"AUTH", unquote(parsed.password).encode()
            )  # fmt: skip
            setup.extend(protocol.send(_command(*auth)))
        database = parsed.path.strip("/") if parsed.scheme != "unix" else ""
        if database and database != "0":
            setup.extend(protocol.send(_command(b"SELECT", database.encode())))
        for reply in setup:
            await reply  # an AUTH/SELECT error raises RedisUnavailable
        return protocol

    async def _reconnect(self, index: int) -> _Protocol:
        waiting = self._connecting[index]
        if waiting is None or waiting.done():
            waiting = asyncio.ensure_future(self._open())
            self._connecting[index] = waiting
        try:
            protocol = await asyncio.shield(waiting)
        except OSError as exc:
            raise RedisUnavailable(str(exc)) from exc
        self.connections[index] = protocol
        return protocol

    async def _ready(self, deadline: float) -> _Protocol:
        index = self.next
        self.next = (index + 1) % self.size
        protocol = self.connections[index]
        if protocol is None or protocol.closed:
            async with asyncio.timeout_at(deadline):
                protocol = await self._reconnect(index)
        if len(protocol.pending) >= self.max_in_flight:
            raise RedisUnavailable("too many commands in flight (Redis not answering)")
        return protocol

    async def get(self, key: bytes, timeout: float) -> bytes | None:
        """GET `key`, raising TimeoutError after `timeout` s and RedisUnavailable on failure."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol = await self._ready(deadline)
        futures = protocol.send(_command(b"GET", key))
        handle = loop.call_at(deadline, _expire, futures)
        try:
            reply: bytes | None = await futures[0]
        finally:
            handle.cancel()
        return reply

    async def execute(self, commands: list[tuple[bytes, ...]], timeout: float) -> list[Any]:
        """Send many commands in one write and wait for all replies (in order)."""
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol = await self._ready(deadline)
        futures = protocol.send(b"".join(_command(*c) for c in commands), len(commands))
        handle = loop.call_at(deadline, _expire, futures)
        try:
            return [await future for future in futures]
        finally:
            handle.cancel()

    async def bulk(self, payload: bytes, replies: int, timeout: float) -> list[Any]:
        """Send packed commands (`replies` of them) in one write; all their replies, in order.

        For bulk writes (the evaluation's cache refresh): one future for the lot, so a
        reply costs a parser call and a list append. An error reply fails the whole call
        with RedisUnavailable (the other commands have still run).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol = await self._ready(deadline)
        future = protocol.send_batch(payload, replies)
        handle = loop.call_at(deadline, _expire, [future])
        try:
            result: list[Any] = await future
        except (TimeoutError, asyncio.CancelledError):
            protocol.transport.close()  # replies may be left unread: never reuse this socket
            raise
        finally:
            handle.cancel()
        return result

    async def close(self) -> None:
        """Close every connection."""
        for protocol in self.connections:
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()
