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
import contextlib
import ssl
import time
from collections import deque
from functools import partial
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis

from gateway.stores import cluster

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


class _Watch:
    """A call's deadline (`PipelinedRedis._raw`): at `timeout` its replies are given up on
    (the connection dropped) unless the commands went out late or the server is still
    sending this client bytes; then the check runs again, up to `hard` (None: no grace)."""

    __slots__ = ("client", "futures", "handle", "hard", "ours", "protocol", "timeout")

    def __init__(
        self,
        client: PipelinedRedis,
        protocol: _Protocol,
        futures: list[asyncio.Future[Any]],
        ours: int,
        timeout: float,
        hard: float | None,
    ) -> None:
        self.client = client
        self.protocol = protocol
        self.futures = futures
        self.ours = ours  # the write that carries these commands
        self.timeout = timeout
        self.hard = hard
        self.handle: asyncio.TimerHandle

    def check(self) -> None:
        if all(future.done() for future in self.futures):
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        protocol, timeout, hard = self.protocol, self.timeout, self.hard
        if hard is not None and now < hard:
            written = protocol.wrote_at.get(self.ours)
            if written is None and protocol.writes < self.ours:  # not even written yet: we were busy
                self.handle = loop.call_at(min(now + timeout, hard), self.check)
                return
            if written is not None:
                since = time.monotonic() - written
                if since < timeout:  # written late: the server's time runs from the write
                    self.handle = loop.call_at(min(now + timeout - since, hard), self.check)
                    return
                if self.client.heard_since(written):
                    self.handle = loop.call_at(min(now + timeout, hard), self.check)
                    return
        protocol.expire(self.futures)


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
        self._closed = False
        # X1: a `redis+cluster://` URL routes every command by its key's slot to a client
        # like this one per master (None: one server, the URL's).
        self._cluster: _Cluster | None = _Cluster(self) if cluster.is_cluster(url) else None

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
            # The connection is kept when it opens, even if every caller waiting for it has
            # given up by then (their deadline): else it would be opened again, and the first
            # socket left open to the garbage collector.
            waiting.add_done_callback(partial(self._adopt, index))
            self._connecting[index] = waiting
        try:
            protocol = await asyncio.shield(waiting)
        except RedisUnavailable:
            raise
        except OSError as exc:  # refused, unreachable, or the connect timed out (TimeoutError)
            raise RedisUnavailable(f"connect failed ({type(exc).__name__}: {exc})") from exc
        return protocol

    def _adopt(self, index: int, opened: asyncio.Future[_Protocol]) -> None:
        if opened.cancelled() or opened.exception() is not None:
            return
        protocol = opened.result()
        if self._closed:  # opened while the client closed: nobody will use it
            protocol.drop("client closed")
            return
        self.connections[index] = protocol

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
        routed, node = self._cluster, self
        if routed is not None:  # X1: straight to the slot's master (no extra call on the hot path)
            found = routed.slots[cluster.key_slot(key)] if routed.masters else None
            if found is None:  # no map yet, or the slot has no master in it
                return await routed.get(key, timeout, field)  # type: ignore[no-any-return]  # bytes or nil
            node = found
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            protocol = await node._ready(deadline)
            futures = protocol.send(_command(b"GET", key) if field is None else _command(b"HGET", key, field))
            handle = loop.call_at(deadline, protocol.expire, futures)
            try:
                reply: bytes | None = await futures[0]
            finally:
                handle.cancel()
        except ReplyError as exc:
            if routed is None or _redirect(exc) is None:
                raise
            return await routed.follow(key, max(deadline - loop.time(), 0.001), field)  # type: ignore[no-any-return]  # as above
        except (OSError, TimeoutError):  # RedisUnavailable too: on a cluster, a master may be gone
            if routed is not None:
                routed.refresh_soon()
            raise
        return reply

    async def execute(self, commands: list[tuple[bytes, ...]], timeout: float) -> list[Any]:
        """Send many commands in one write and wait for all replies (in order); an error
        reply raises ReplyError (the other commands have still run)."""
        if not commands:
            return []
        if self._cluster is not None:
            return await self._cluster.run([_routed(_command(*c), c) for c in commands], timeout, None)
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
        if self._cluster is not None:
            return await self._cluster.run(_split(payload), timeout, hard_timeout)
        return await self._raw(payload, count, timeout, hard_timeout, collect=False)

    async def _raw(
        self, payload: bytes, count: int, timeout: float, hard_timeout: float | None, *, collect: bool
    ) -> list[Any]:
        """`execute_raw` on this one server; with `collect`, an error reply is returned in
        its place (a ReplyError) instead of raised: the cluster router follows MOVED/ASK."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        hard = start + (hard_timeout if hard_timeout is not None else timeout)
        protocol = await self._ready(min(start + timeout, hard))
        futures = protocol.send(payload, count)
        # The deadline's check, rescheduled while a late write or a busy server excuses the wait.
        watch = _Watch(
            self, protocol, futures, protocol.writes + 1, timeout, None if hard_timeout is None else hard
        )
        watch.handle = loop.call_at(start + timeout, watch.check)
        try:
            if not collect:
                if count == 1:
                    return [await futures[0]]
                return [await future for future in futures]
            replies: list[Any] = []
            for future in futures:
                try:
                    replies.append(await future)
                except ReplyError as exc:
                    replies.append(exc)
            return replies
        except BaseException:
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()
            raise
        finally:
            watch.handle.cancel()

    def heard_since(self, moment: float) -> bool:
        """Whether the server sent bytes on any connection after `moment` (time.monotonic())."""
        if self._cluster is not None:
            return any(node.heard_since(moment) for node in self._cluster.nodes.values())
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
        through the very connections the lookup uses. Raises like `get`. On a cluster: every
        master of the slot map (a dead one fails the probe and refreshes the map)."""
        if self._cluster is not None:
            await self._cluster.ping(timeout)
            return
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
        if self._cluster is not None:
            return await self._cluster.bulk(payload, timeout)
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
        """Close every connection (and any still being opened)."""
        self._closed = True
        if self._cluster is not None:
            await self._cluster.close()
        for opening in self._connecting:
            if opening is not None and not opening.done():
                opening.cancel()
        for protocol in self.connections:
            if protocol is not None:
                protocol.drop("client closed", flush=True)


# ---------------------------------------------------------------------------- X1: Redis Cluster

#: Seconds one node has to answer CLUSTER SLOTS before the next one is asked.
REFRESH_TIMEOUT = 0.5
#: The slot map is read again at most this often (each failure or MOVED asks for it).
REFRESH_INTERVAL = 0.2
#: Redirections (MOVED/ASK) followed for one command before its error reply is the answer.
REDIRECTS = 3
_ASKING = _command(b"ASKING")
#: Commands without a key: sent to any master (SCRIPT: to every master, each keeps its own cache).
_KEYLESS = frozenset({b"PING", b"ECHO", b"PUBLISH", b"CLUSTER", b"INFO", b"TIME", b"SCRIPT"})


class _Routed:
    """One command of a cluster call: its RESP bytes, its key's slot (None: keyless) and
    whether every master must run it (SCRIPT LOAD)."""

    __slots__ = ("every", "loads", "payload", "slot")

    def __init__(self, payload: bytes, slot: int | None, every: bool, loads: bool = False) -> None:
        self.payload = payload
        self.slot = slot
        self.every = every
        self.loads = loads  # a SCRIPT LOAD: every master joining the cluster gets it too


def _routed(payload: bytes, parts: tuple[bytes, ...] | list[bytes]) -> _Routed:
    """Where a command goes: by its first key (EVAL/EVALSHA: the first of KEYS)."""
    name = parts[0].upper()
    if name in (b"EVALSHA", b"EVAL"):
        slot = cluster.key_slot(parts[3]) if len(parts) > 3 and parts[2] != b"0" else None
        return _Routed(payload, slot, False)
    if name in _KEYLESS or len(parts) < 2:
        loads = name == b"SCRIPT" and len(parts) > 1 and parts[1].upper() == b"LOAD"
        return _Routed(payload, None, name == b"SCRIPT", loads)
    return _Routed(payload, cluster.key_slot(parts[1]), False)


def commands_of(payload: bytes) -> list[tuple[bytes, list[bytes]]]:
    """The commands of a RESP payload (arrays of bulk strings, as `_command`, the cache's
    packer and the queue store encode them): each one's bytes and its parts."""
    out: list[tuple[bytes, list[bytes]]] = []
    pos, size = 0, len(payload)
    while pos < size:
        if payload[pos] != 0x2A:  # "*"
            raise ValueError("not a RESP array of bulk strings")
        end = payload.index(b"\r\n", pos)
        count = int(payload[pos + 1 : end])
        begin, pos = pos, end + 2
        parts: list[bytes] = []
        for _ in range(count):
            end = payload.index(b"\r\n", pos)
            length = int(payload[pos + 1 : end])
            pos = end + 2
            parts.append(payload[pos : pos + length])
            pos += length + 2
        out.append((payload[begin:pos], parts))
    return out


def _split(payload: bytes) -> list[_Routed]:
    """The commands of a RESP payload, each with where it goes."""
    return [_routed(one, parts) for one, parts in commands_of(payload)]


def _redirect(error: ReplyError) -> tuple[bool, int, tuple[str, int]] | None:
    """`MOVED 3999 127.0.0.1:6381` / `ASK …` → (moved, slot, address); None for other errors."""
    text = str(error)
    if not text.startswith(("MOVED ", "ASK ")):
        return None
    kind, slot, address = text.split(" ", 2)
    host, _, port = address.strip().rpartition(":")
    return kind == "MOVED", int(slot), (host, int(port))


def _seen(task: asyncio.Task[None]) -> None:
    """A map read nobody waits for: its failure is retried by the next caller, not reported
    by the event loop as never retrieved."""
    if not task.cancelled():
        task.exception()


class _Cluster:
    """The slot map of a Redis Cluster and a `PipelinedRedis` per master.

    The map is read (CLUSTER SLOTS, from any node that answers: the known masters, then the
    URL's seeds) before the first command and again after a MOVED or a failed node — a
    master killed shows as a refused or lost connection, its replica's promotion as a new
    owner of its slots in the next map. Meanwhile the commands for its slots fail as on a
    single Redis (RedisUnavailable), and the lookup answers from PostgreSQL (Q4)."""

    def __init__(self, owner: PipelinedRedis) -> None:
        self.owner = owner
        self.address = cluster.parse(owner.url)
        self.nodes: dict[tuple[str, int], PipelinedRedis] = {}
        self.slots: list[PipelinedRedis | None] = [None] * cluster.SLOTS
        self.masters: list[PipelinedRedis] = []
        self.refreshes = 0  # maps read (tests and metrics)
        # SCRIPT LOADs sent to every master so far: replayed into a master that joins the map
        # (a reshard adds one; a promoted replica has them already, by replication).
        self.everywhere: dict[bytes, _Routed] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = 0.0

    def node(self, address: tuple[str, int]) -> PipelinedRedis:
        """The client of one node (made on first use)."""
        found = self.nodes.get(address)
        if found is None:
            # One connection per master: the GETs of an event-loop turn are split by master
            # already, and fewer GETs per write is what costs (measured: 2 connections per
            # master gave 73-75 % of one Redis's GET throughput, 1 gave 100-147 %).
            found = self.nodes[address] = PipelinedRedis(
                self.address.node_url(*address),
                connections=1,
                max_in_flight=self.owner.max_in_flight,
                connect_timeout=self.owner.connect_timeout,
            )
        return found

    # ------------------------------------------------------------------ the slot map

    async def _read_map(self) -> None:
        known = [a for a, n in self.nodes.items() if n in self.masters]
        candidates = list(dict.fromkeys([*known, *self.address.seeds, *self.nodes]))
        failures: list[str] = []
        for address in candidates:
            try:
                (reply,) = await self.node(address).execute([(b"CLUSTER", b"SLOTS")], REFRESH_TIMEOUT)
            except (OSError, TimeoutError) as exc:  # ReplyError too: a node that is no cluster member
                failures.append(f"{address[0]}:{address[1]} {type(exc).__name__}")
                continue
            if not reply:  # a node that has not joined a cluster (yet): no slots to learn
                failures.append(f"{address[0]}:{address[1]} serves no slots")
                continue
            self._install(reply, address[0])
            return
        raise RedisUnavailable(f"no cluster node gave its slot map ({'; '.join(failures)[:300]})")

    def _install(self, reply: list[Any], asked_host: str) -> None:
        slots: list[PipelinedRedis | None] = [None] * cluster.SLOTS
        masters: dict[tuple[str, int], PipelinedRedis] = {}
        for entry in reply:
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            address = (host or asked_host, int(master[1]))
            client = masters.get(address) or self.node(address)
            masters[address] = client
            slots[start : end + 1] = [client] * (end - start + 1)
        joined = [n for n in masters.values() if n not in self.masters] if self.masters else []
        self.slots = slots
        self.masters = list(masters.values())
        if joined and self.everywhere:
            task = asyncio.ensure_future(self._load_into(joined))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.refreshes += 1
        # Nodes that are no longer masters (a killed one, a demoted one) are closed: their
        # connections would otherwise be retried by nothing and held open.
        for address, client in list(self.nodes.items()):
            if address not in masters and address not in self.address.seeds:
                del self.nodes[address]
                for protocol in client.connections:  # what `close` does, without awaiting
                    if protocol is not None:
                        protocol.drop("no longer a master of the cluster", flush=True)

    async def _load_into(self, nodes: list[PipelinedRedis]) -> None:
        """The scripts every master has, into masters new to the map (best effort: a miss
        there is still a NOSCRIPT its caller loads)."""
        payload = b"".join(c.payload for c in self.everywhere.values())
        for node in nodes:
            with contextlib.suppress(OSError, TimeoutError):
                await node._raw(payload, len(self.everywhere), REFRESH_TIMEOUT, None, collect=True)

    async def _refresh(self, wait: float) -> None:
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await self._read_map()
        finally:
            self._last_refresh = time.monotonic()

    def refresh_soon(self) -> asyncio.Task[None]:
        """Read the slot map again (at most every REFRESH_INTERVAL; one read at a time)."""
        task = self._refreshing
        if task is None or task.done():
            wait = self._last_refresh + REFRESH_INTERVAL - time.monotonic() if self.masters else 0.0
            task = self._refreshing = asyncio.ensure_future(self._refresh(wait))
            task.add_done_callback(_seen)
        return task

    async def _mapped(self, timeout: float) -> None:
        """Before the first command: wait (within `timeout`) for the slot map."""
        if self.masters:
            return
        async with asyncio.timeout(timeout):
            await asyncio.shield(self.refresh_soon())

    def _for(self, slot: int | None) -> PipelinedRedis:
        node = (self.masters[0] if self.masters else None) if slot is None else self.slots[slot]
        if node is None:
            self.refresh_soon()
            raise RedisUnavailable(f"no master serves slot {slot}")
        return node

    # ------------------------------------------------------------------ commands

    async def get(self, key: bytes, timeout: float, field: bytes | None = None) -> Any:
        """GET (HGET with `field`) routed by the key's slot, following MOVED/ASK within `timeout`."""
        if not self.masters:
            await self._mapped(timeout)
        node = self._for(cluster.key_slot(key))
        try:
            return await node.get(key, timeout, field)
        except ReplyError as exc:
            if _redirect(exc) is None:
                raise
        except (OSError, TimeoutError):  # RedisUnavailable too: a master gone; its replica may own it now
            self.refresh_soon()
            raise
        return await self.follow(key, timeout, field)

    async def follow(self, key: bytes, timeout: float, field: bytes | None = None) -> Any:
        """GET (HGET) after a MOVED/ASK: through `run`, which follows redirections."""
        parts = (b"GET", key) if field is None else (b"HGET", key, field)
        (reply,) = await self.run([_routed(_command(*parts), parts)], timeout, None)
        return reply

    async def run(self, commands: list[_Routed], timeout: float, hard_timeout: float | None) -> list[Any]:
        """Every command on its slot's master (one write per master, all at once), the replies
        in the commands' order; MOVED/ASK followed; an error reply raises ReplyError (the
        other commands have still run), a failed master RedisUnavailable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        hard = loop.time() + (hard_timeout if hard_timeout is not None else timeout)
        await self._mapped(timeout)
        if any(c.every for c in commands):  # SCRIPT LOAD: into every master's script cache
            everywhere = [c for c in commands if c.every]
            self.everywhere.update((c.payload, c) for c in everywhere if c.loads)
            others = [n for n in self.masters if n is not self.masters[0]]
            await asyncio.gather(*(self._send(n, everywhere, set(), deadline, hard) for n in others))
        replies: list[Any] = [None] * len(commands)
        todo = list(range(len(commands)))
        target: dict[int, PipelinedRedis] = {}
        asking: set[int] = set()
        for _ in range(REDIRECTS + 1):
            groups: dict[PipelinedRedis, list[int]] = {}
            for index in todo:
                node = target.get(index) or self._for(commands[index].slot)
                groups.setdefault(node, []).append(index)
            outcomes = await asyncio.gather(
                *(self._send(n, [commands[i] for i in ix], {j for j, i in enumerate(ix) if i in asking},
                             deadline, hard) for n, ix in groups.items()),
                return_exceptions=True,
            )  # fmt: skip
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                self.refresh_soon()
                raise failed[0]
            todo = []
            for indexes, got in zip(groups.values(), outcomes, strict=True):
                assert not isinstance(got, BaseException)
                for index, reply in zip(indexes, got, strict=True):
                    replies[index] = reply
                    redirect = _redirect(reply) if isinstance(reply, ReplyError) else None
                    if redirect is None:
                        continue
                    moved, slot, address = redirect
                    node = self.node(address)
                    target[index] = node
                    if moved:  # the slot has a new owner: route there now, read the whole map soon
                        self.slots[slot] = node
                        asking.discard(index)
                        self.refresh_soon()
                    else:  # ASK: this one command goes to the importing node, after ASKING
                        asking.add(index)
                    todo.append(index)
            if not todo:
                break
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies

    async def _send(
        self, node: PipelinedRedis, commands: list[_Routed], asking: set[int], deadline: float, hard: float
    ) -> list[Any]:
        """Commands to one master in one write; their replies (ReplyError in place)."""
        parts: list[bytes] = []
        for position, command in enumerate(commands):
            if position in asking:
                parts.append(_ASKING)
            parts.append(command.payload)
        now = asyncio.get_running_loop().time()
        timeout = max(deadline - now, 0.001)
        got = await node._raw(b"".join(parts), len(parts), timeout, max(hard - now, timeout), collect=True)
        if not asking:
            return got
        # Drop the +OK of each ASKING (it precedes its command's reply).
        out: list[Any] = []
        cursor = 0
        for position in range(len(commands)):
            if position in asking:
                cursor += 1
            out.append(got[cursor])
            cursor += 1
        return out

    async def bulk(self, payload: bytes, timeout: float) -> list[Any]:
        """A bulk write split by master: one write and one future per master; the replies in
        order. A redirection (a slot moving during the write) re-sends those commands."""
        await self._mapped(timeout)
        commands = _split(payload)
        groups: dict[PipelinedRedis, list[int]] = {}
        for index, command in enumerate(commands):
            groups.setdefault(self._for(command.slot), []).append(index)
        writes = [
            node.bulk(b"".join(commands[i].payload for i in ix), len(ix), timeout)
            for node, ix in groups.items()
        ]
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        replies: list[Any] = [None] * len(commands)
        again: list[int] = []
        for indexes, got in zip(groups.values(), outcomes, strict=True):
            if isinstance(got, ReplyError) and str(got).startswith(("MOVED ", "ASK ")):
                again.extend(indexes)  # SET and DEL: sending them again is harmless
                continue
            if isinstance(got, BaseException):
                self.refresh_soon()
                raise got
            for index, reply in zip(indexes, got, strict=True):
                replies[index] = reply
        if again:
            again.sort()
            redone = await self.run([commands[i] for i in again], timeout, None)
            for index, reply in zip(again, redone, strict=True):
                replies[index] = reply
        return replies

    async def ping(self, timeout: float) -> None:
        """PING every master (its connections); a failure asks for the map again."""
        try:
            await self._mapped(timeout)
            results = await asyncio.gather(*(n.ping(timeout) for n in self.masters), return_exceptions=True)
        except (OSError, TimeoutError):
            self.refresh_soon()
            raise
        for result in results:
            if isinstance(result, BaseException):
                self.refresh_soon()
                raise result

    async def close(self) -> None:
        """Stop reading the map; close every node's connections."""
        for task in [self._refreshing, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        for node in list(self.nodes.values()):
            await node.close()
