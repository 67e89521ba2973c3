"""A TCP proxy between callgate and Redis that misbehaves on demand, for fault tests.

Like a broken middlebox, it keeps both sockets of every connection open while it
swallows the bytes it reads (`swallow`) or holds them back for a while before
forwarding them in order (`delay`); `forward` passes bytes straight through. The mode
is read when a chunk arrives, in both directions and on every connection, old or new.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlparse

Mode = Literal["forward", "swallow", "delay"]


@dataclass
class RedisProxy:
    """A proxy listening on 127.0.0.1 in front of the Redis at `target` (a redis URL)."""

    target: str
    mode: Mode = "forward"
    delay: float = 0.0
    swallowed: int = 0  # bytes dropped so far
    connections: int = 0  # connections accepted so far
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> str:
        """Start listening; the URL callgate should use."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parsed = urlparse(self.target)
        if parsed.scheme == "unix":
            return await asyncio.open_unix_connection(parsed.path)
        return await asyncio.open_connection(parsed.hostname or "localhost", parsed.port or 6379)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        server_reader, server_writer = await self._open_target()
        self._writers.extend((client_writer, server_writer))
        for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
            task = asyncio.create_task(self._pump(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction; delayed chunks go out in arrival order once due."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await reader.read(65536):
                if self.mode == "swallow":
                    self.swallowed += len(data)
                elif self.mode == "delay":
                    queue.put_nowait((loop.time() + self.delay, data))
                else:
                    queue.put_nowait((0.0, data))
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
            writer.close()

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
