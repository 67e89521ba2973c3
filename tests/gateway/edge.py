"""The real HTTP edge for raw-socket tests: the app served by `EdgeRunner` (what `callgate
serve` runs) on a free port, and HTTP/1.1 exchanges written byte by byte — for the requests
aiohttp's own client refuses to send (raw bytes in headers, NULs, over-long lines)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from gateway.http.app import create_app
from gateway.http.server import EdgeRunner
from gateway.settings import Settings
from tests.conftest import LOG_FILE


@dataclass(frozen=True, slots=True)
class Served:
    """A running server: where it listens and its application (for its stores and caches)."""

    port: int
    app: web.Application


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A parsed HTTP/1.1 response."""

    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Served]:
    """`create_app(settings)` behind EdgeRunner on 127.0.0.1, a free port."""
    app = create_app(settings)
    runner = EdgeRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        yield Served(port, app)
    finally:
        await runner.cleanup()


def request(
    method: str, target: bytes | str, headers: Iterable[tuple[str, bytes | str]] = (), body: bytes = b""
) -> bytes:
    """The bytes of one request (Connection: close; Content-Length when there is a body)."""
    lines = [f"{method} ".encode() + (target.encode() if isinstance(target, str) else target) + b" HTTP/1.1"]
    lines.append(b"Host: callgate.test")
    for name, value in headers:
        lines.append(name.encode() + b": " + (value.encode() if isinstance(value, str) else value))
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def exchange(port: int, data: bytes) -> RawResponse:
    """Send raw bytes, read one response (the server closes the connection after it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(30):  # a guard against a hang, not a speed check
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return RawResponse(int(status_line.split()[1]), headers, body)


class LogTail:
    """The lines the session log gained since this object was made (conftest sends every log
    line of the run to LOG_FILE, flushed per line)."""

    def __init__(self) -> None:
        self.offset = LOG_FILE.stat().st_size

    def lines(self) -> list[str]:
        """New lines since the start (or the last `lines()` call)."""
        with LOG_FILE.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        return [line for line in data.decode("utf-8", errors="replace").split("\n") if line]
