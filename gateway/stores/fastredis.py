"""A pipelined Redis GET for the lookup's hot path.

redis-py spends most of a cache hit in its general machinery (retry wrapper, pool
locks, per-command futures). The lookup needs one command, GET, thousands of times a
second: here every GET is written straight to one of a few long-lived connections and
its reply is matched in order by hiredis's parser (the C parser redis-py uses too).
Many GETs are in flight on a connection at once, so there is no pool to wait for.
Everything else in callgate uses redis-py.

Matching replies by position is only right while the connection is in step: one reply
lost (a middlebox that swallows bytes but keeps the sockets open) and every later
reply would answer the request before it — another subscriber's record. Two rules keep
a reply from ever reaching the wrong request:

- Every write ends with `ECHO <sequence number>`, and the replies before it are handed
  out only when that echo comes back where it should. Anything else means the stream
  is out of step: the connection is dropped and everything pending on it fails.
- A reply that is late (its call timed out) drops the connection too, failing what is
  still pending on it; the next call opens a new one. A late reply is never waited
  for or re-matched.

Error replies (WRONGTYPE, OOM …) are answers, not outages: they raise `ReplyError` for
that command only, and the connection stays in use.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis

#: Seconds to open a connection (and AUTH/SELECT on it) before giving up on it.
CONNECT_TIMEOUT = 1.0
_CHECK = b"\x00callgate-check:"


class RedisUnavailable(ConnectionError):
    """The connection failed, was lost or fell out of step; callers treat it like any store failure."""


class ReplyError(OSError):
    """Redis answered this command with an error reply (WRONGTYPE, OOM, …); the store is up
    and the connection in step.

    An OSError only so that callers that treat any failed cache call alike (screen pop,
    the evaluation's bulk write) keep one except clause; the lookup tells it apart from
    an outage.
    """


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


_PING = _command(b"PING")


class _Batch:
    """The replies of a bulk write: one future for `count` replies, not one each."""

    __slots__ = ("count", "error", "future", "replies")

    def __init__(self, future: asyncio.Future[Any], count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []
        self.error: str | None = None


class _Check:
    """Where the echo closing a write must come back."""

    __slots__ = ("token",)

    def __init__(self, token: bytes) -> None:
        self.token = token


def _resolve(future: asyncio.Future[Any], reply: Any) -> None:
    if future.done():  # cancelled by its caller: the reply is dropped, the order was kept
        return
    if isinstance(reply, hiredis.ReplyError):
        future.set_exception(ReplyError(str(reply)))
    else:
        future.set_result(reply)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        # What the replies on the wire answer, in order: a future per command, a
        # _Batch per bulk write, a _Check per write.
        self.pending: deque[asyncio.Future[Any] | _Batch | _Check] = deque()
        # Replies read but not handed out: they wait for their write's echo.
        self.held: list[tuple[asyncio.Future[Any] | _Batch, Any]] = []
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.closed = False
        self.outgoing: list[bytes] = []
        self.writes = 0
        self.last_read = 0.0  # time.monotonic() of the latest bytes from the server
        self.wrote_at: dict[int, float] = {}  # write number → time.monotonic() it went out (recent)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_read = time.monotonic()
        self.reader.feed(data)
        pending, held = self.pending, self.held
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.drop(f"unreadable reply ({exc})")
                return
            if reply is False:
                return
            if not pending:
                self.drop("a reply nothing was waiting for")
                return
            head = pending[0]
            if type(head) is _Batch:  # most of a bulk write's replies: the batch stays at the head
                if isinstance(reply, hiredis.ReplyError) and head.error is None:
                    head.error = str(reply)
                head.replies.append(reply)
                if len(head.replies) == head.count:
                    pending.popleft()
                    held.append((head, None))
            elif type(head) is _Check:
                pending.popleft()
                if reply != head.token:
                    self.drop("replies out of step with their requests")
                    return
                for entry, value in held:
                    if type(entry) is _Batch:
                        self._finish_batch(entry)
                    else:
                        _resolve(entry, value)  # type: ignore[arg-type]  # not a _Batch: a future
                held.clear()
            else:
                held.append((pending.popleft(), reply))  # type: ignore[arg-type]  # not a _Check: a future

    @staticmethod
    def _finish_batch(batch: _Batch) -> None:
        if batch.future.done():
            return
        if batch.error is not None:
            batch.future.set_exception(ReplyError(batch.error))
        else:
            batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(f"connection lost ({exc or 'closed by the server'})")

    def _fail_all(self, reason: str) -> None:
        """Mark closed; every command still waiting fails (none is ever re-matched)."""
        self.closed = True
        self.outgoing.clear()
        waiting: list[asyncio.Future[Any] | _Batch | _Check] = [entry for entry, _ in self.held]
        waiting.extend(self.pending)
        self.held.clear()
        self.pending.clear()
        for entry in waiting:
            if isinstance(entry, _Check):
                continue
            future = entry.future if isinstance(entry, _Batch) else entry
            if not future.done():
                future.set_exception(RedisUnavailable(reason))

    def drop(self, reason: str, *, flush: bool = False) -> None:
        """Close the socket and fail everything pending on it: at once, or (`flush`) once
        what is already written has gone out."""
        if self.transport is not None:
            if flush:
                self.transport.close()
            else:
                self.transport.abort()
        self._fail_all(reason)

    def expire(self, futures: list[asyncio.Future[Any]]) -> None:
        """A call's deadline passed: if its replies are still missing, the connection is
        dropped (a late reply is never waited for) and the call gets TimeoutError."""
        late = [future for future in futures if not future.done()]
        if not late:
            return
        for future in late:
            future.set_exception(TimeoutError())
        self.drop("a reply was late; the connection was dropped")

    def send(self, payload: bytes, replies: int = 1) -> list[asyncio.Future[Any]]:
        """Queue `payload` (holding `replies` commands); a future per reply."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(replies)]
        if self.closed:
            for future in futures:
                future.set_exception(RedisUnavailable("connection closed"))
            return futures
        self.pending.extend(futures)
        # Commands issued in the same event-loop turn go out in one write (one syscall).
        self.outgoing.append(payload)
        if len(self.outgoing) == 1:
            loop.call_soon(self._write)
        return futures

    def send_batch(self, payload: bytes, replies: int) -> asyncio.Future[Any]:
        """Write packed commands now; one future for all their replies."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.closed:
            future.set_exception(RedisUnavailable("connection closed"))
            return future
        self.pending.append(_Batch(future, replies))
        self.outgoing.append(payload)
        self._write()
        return future

    def _write(self) -> None:
        if not self.outgoing or self.closed:
            return
        self.writes += 1
        self.wrote_at[self.writes] = time.monotonic()
        if len(self.wrote_at) > 4096:
            self.wrote_at = {n: t for n, t in self.wrote_at.items() if n > self.writes - 1024}
        token = b"%b%d" % (_CHECK, self.writes)
        self.pending.append(_Check(token))
        self.outgoing.append(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%b\r\n" % (len(token), token))
        self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()


class PipelinedRedis:
    """GET over a few pipelined connections, with a per-call timeout."""

    def __init__(
        self,
        url: str,
        connections: int = 2,
        max_in_flight: int = 5000,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.url = url
        self.size = connections
        self.max_in_flight = max_in_flight
        self.connect_timeout = connect_timeout
        self.connections: list[_Protocol | None] = [None] * connections
        self.next = 0
        self._connecting: list[asyncio.Future[_Protocol] | None] = [None] * connections

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        parsed = urlparse(self.url)
        protocol: _Protocol | None = None
        try:
            # A connection that never answers its AUTH/SELECT must not hold every later
            # call waiting on it.
            async with asyncio.timeout(self.connect_timeout):
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
                    await reply
        except BaseException as exc:
            if protocol is not None:
                protocol.drop("connection setup failed")
            if isinstance(exc, ReplyError):  # AUTH or SELECT refused: unusable, like a refused connect
                raise RedisUnavailable(str(exc)) from exc
            raise
        return protocol

    async def _reconnect(self, index: int) -> _Protocol:
        waiting = self._connecting[index]
        if waiting is None or waiting.done():
            waiting = asyncio.ensure_future(self._open())
            self._connecting[index] = waiting
        try:
            protocol = await asyncio.shield(waiting)
        except RedisUnavailable:
            raise
        except OSError as exc:  # refused, unreachable, or the connect timed out (TimeoutError)
            raise RedisUnavailable(f"connect failed ({type(exc).__name__}: {exc})") from exc
        self.connections[index] = protocol
        return protocol

    async def _ready(self, deadline: float, index: int | None = None) -> _Protocol:
        if index is None:
            index = self.next
            self.next = (index + 1) % self.size
        protocol = self.connections[index]
        if protocol is None or protocol.closed:
            async with asyncio.timeout_at(deadline):
                protocol = await self._reconnect(index)
        if len(protocol.pending) >= self.max_in_flight:
            raise RedisUnavailable("too many commands in flight (Redis not answering)")
        return protocol

    async def get(self, key: bytes, timeout: float, field: bytes | None = None) -> bytes | None:
        """GET `key` (HGET `key` `field`): TimeoutError after `timeout` s (the connection is then dropped),
        RedisUnavailable on a lost or out-of-step connection, ReplyError on an error reply
        (e.g. WRONGTYPE)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol = await self._ready(deadline)
        futures = protocol.send(_command(b"GET", key) if field is None else _command(b"HGET", key, field))
        handle = loop.call_at(deadline, protocol.expire, futures)
        try:
            reply: bytes | None = await futures[0]
        finally:
            handle.cancel()
        return reply

    async def execute(self, commands: list[tuple[bytes, ...]], timeout: float) -> list[Any]:
        """Send many commands in one write and wait for all replies (in order); an error
        reply raises ReplyError (the other commands have still run)."""
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol = await self._ready(deadline)
        return await self._wait(
            protocol, protocol.send(b"".join(_command(*c) for c in commands), len(commands)), deadline
        )

    async def execute_raw(
        self, payload: bytes, count: int, timeout: float, *, hard_timeout: float | None = None
    ) -> list[Any]:
        """`execute` for `count` commands already encoded (RESP) into `payload`.

        With `hard_timeout`, the caller's `timeout` is the server's, not this process's: it
        runs from the moment the commands actually went out (a busy process may write them
        late), and when it passes with replies missing while the server has sent this client
        bytes since (the process was too busy to read them, or Redis is working through a
        burst), the call waits on, up to `hard_timeout`. A server silent since the write is
        given up on at `timeout`, as by `execute`."""
        if not count:
            return []
        loop = asyncio.get_running_loop()
        start = loop.time()
        hard = start + (hard_timeout if hard_timeout is not None else timeout)
        protocol = await self._ready(min(start + timeout, hard))
        futures = protocol.send(payload, count)
        ours = protocol.writes + 1  # the write that will carry these commands
        handle: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal handle
            if all(future.done() for future in futures):
                return
            now = loop.time()
            if hard_timeout is not None and now < hard:
                written = protocol.wrote_at.get(ours)
                if written is None and protocol.writes < ours:  # not even written yet: we were busy
                    handle = loop.call_at(min(now + timeout, hard), check)
                    return
                if written is not None:
                    since = time.monotonic() - written
                    if since < timeout:  # written late: the server's time runs from the write
                        handle = loop.call_at(min(now + timeout - since, hard), check)
                        return
                    if self.heard_since(written):
                        handle = loop.call_at(min(now + timeout, hard), check)
                        return
            protocol.expire(futures)

        handle = loop.call_at(start + timeout, check)
        try:
            return [await future for future in futures]
        except BaseException:
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()
            raise
        finally:
            handle.cancel()

    def heard_since(self, moment: float) -> bool:
        """Whether the server sent bytes on any connection after `moment` (time.monotonic())."""
        return any(p is not None and not p.closed and p.last_read > moment for p in self.connections)

    async def _wait(
        self, protocol: _Protocol, futures: list[asyncio.Future[Any]], deadline: float
    ) -> list[Any]:
        handle = asyncio.get_running_loop().call_at(deadline, protocol.expire, futures)
        try:
            return [await future for future in futures]
        except BaseException:
            # The first failure is the answer; the others of the batch are seen, not left
            # for the garbage collector to report as "never retrieved".
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()
            raise
        finally:
            handle.cancel()

    async def ping(self, timeout: float) -> None:
        """PING every connection, opening those that are closed: the breaker's probe goes
        through the very connections the lookup uses. Raises like `get`."""
        deadline = asyncio.get_running_loop().time() + timeout

        async def one(index: int) -> None:
            protocol = await self._ready(deadline, index)
            (reply,) = await self._wait(protocol, protocol.send(_PING), deadline)
            if reply != b"PONG":
                protocol.drop("unexpected reply to PING")
                raise RedisUnavailable("unexpected reply to PING")

        # Every connection is checked even when one fails: none is left waiting unseen.
        results = await asyncio.gather(*(one(i) for i in range(self.size)), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def bulk(self, payload: bytes, replies: int, timeout: float) -> list[Any]:
        """Send packed commands (`replies` of them) in one write; all their replies, in order.

        For bulk writes (the evaluation's cache refresh): one future for the lot, so a
        reply costs a parser call and a list append. An error reply fails the whole call
        with ReplyError (the other commands have still run).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        protocol = await self._ready(deadline)
        future = protocol.send_batch(payload, replies)
        handle = loop.call_at(deadline, protocol.expire, [future])
        try:
            result: list[Any] = await future
        except asyncio.CancelledError:
            protocol.drop("bulk write cancelled")  # its replies would hold up every later call
            raise
        finally:
            handle.cancel()
        return result

    async def close(self) -> None:
        """Close every connection."""
        for protocol in self.connections:
            if protocol is not None:
                protocol.drop("client closed", flush=True)
