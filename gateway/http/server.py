"""The HTTP server around the app: requests aiohttp cannot parse are answered as
problem+json naming only the kind of error, and logged without their bytes.

aiohttp answers a request its parser rejects (a NUL in a header, a line over 8,190 bytes,
a bad method) before any middleware runs, with the parser's message as a text/plain 400
body and in its log line — and that message quotes the offending bytes: a bearer token, a
phone number in the query. aiohttp has no public hook for these answers (aio-libs/aiohttp
#3287, #9882), so `EdgeRunner` serves the app through a request handler whose
`handle_error` — the method aiohttp calls for them — is ours. `callgate serve` runs it
(`run`); the raw-socket tests serve through it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from gateway.http.keys import METRICS
from gateway.http.lane import LookupLane, RawRequest, parse
from gateway.http.problems import problem_response
from gateway.logs import get_logger

log = get_logger("http")

# What the client is told, per kind of parser error; never the parser's text (it quotes the request).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (http_exceptions.LineTooLong, "a request line or header is longer than the server accepts"),
    (http_exceptions.BadHttpMethod, "the method is not a valid HTTP method"),
    (http_exceptions.BadStatusLine, "the request line is not HTTP/1.x"),
    (http_exceptions.InvalidHeader, "a header is malformed"),
    (http_exceptions.ContentLengthError, "the body does not match its Content-Length"),
    (http_exceptions.TransferEncodingError, "the body's transfer encoding is malformed"),
    (http_exceptions.ContentEncodingError, "the body's content encoding is malformed"),
)
# llhttp's own reasons are fixed phrases ("Invalid header value char"); the quoted bytes follow a colon.
_LLHTTP_REASON = re.compile(r"[A-Za-z][A-Za-z '/-]{2,80}")


def reason(exc: BaseException | None) -> str:
    """A fixed phrase for what was wrong with an unparsable request, quoting none of it."""
    for kind, text in _REASONS:
        if isinstance(exc, kind):
            return text
    if isinstance(exc, http_exceptions.HttpProcessingError):
        head = (exc.message or "").split(":", 1)[0].strip()
        if _LLHTTP_REASON.fullmatch(head):
            return head[0].lower() + head[1:]
    return "the request is not valid HTTP/1.1"


def _count_unhandled(request: web.BaseRequest) -> None:
    # Only a request the router matched knows its app (and so the metrics).
    if isinstance(request, web.Request):
        with contextlib.suppress(AssertionError, KeyError):  # aiohttp asserts a matched request
            request.app[METRICS].unexpected.labels("unhandled").inc()


class EdgeRequestHandler(RequestHandler):
    """aiohttp's connection handler, with the lookup's lane (`lane`) in front of it and our
    answers for requests it cannot hand to the app."""

    __slots__ = ("_lane", "_lane_held", "_lane_limit", "_lane_task")

    def __init__(self, manager: EdgeServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        # The lane, while every byte of the connection has been a lookup the lane answered
        # (None: aiohttp reads the connection, from the first byte it was given to the end).
        self._lane: LookupLane | None = manager.lane
        # A read longer than aiohttp would take in one line or header is aiohttp's to refuse.
        self._lane_limit = min(self.max_line_size, self.max_field_size)
        self._lane_task: asyncio.Task[None] | None = None  # the lookup being answered
        self._lane_held = b""  # what came meanwhile: read after the answer, in order

    def data_received(self, data: bytes) -> None:
        """A lookup for the lane, or the bytes for aiohttp's parser (see `lane`)."""
        if self._lane is not None and not (self._force_close or self._close):
            if self._lane_task is not None:
                self._lane_held += data
                if self.transport is not None:  # one answer at a time: the client waits
                    self.transport.pause_reading()
                return
            request = parse(data, self._lane_limit)
            if request is not None:
                self._lane_task = self._loop.create_task(self._lane_answer(self._lane, request))
                return
            self._lane = None  # aiohttp's from here on
        super().data_received(data)

    async def _lane_answer(self, lane: LookupLane, request: RawRequest) -> None:
        try:
            data = await lane.answer(request)
        except Exception as exc:  # answer() makes problems of what the lookup raises: a bug
            log.error("unhandled_error", status=500, exc_info=exc)
            lane.app[METRICS].unexpected.labels("unhandled").inc()
            self.force_close()
            return
        finally:
            self._lane_task = None
        transport = self.transport
        if transport is None:  # the client left
            return
        transport.write(data)
        # Kept alive, and closed once idle for `keepalive_timeout`, as aiohttp keeps its own
        # after an answer (the same timer: `_process_keepalive`).
        self._keepalive = True
        if self._keepalive_timeout and not self._close:
            close_time = self._loop.time() + self._keepalive_timeout
            self._next_keepalive_close_time = close_time
            if self._keepalive_handle is None:
                self._keepalive_handle = self._loop.call_at(close_time, self._process_keepalive)
        held, self._lane_held = self._lane_held, b""
        if held:
            transport.resume_reading()
            if transport.get_write_buffer_size():  # a client that sends and does not read:
                self._lane = None  # aiohttp's flow control from here on
            self.data_received(held)

    def _process_keepalive(self) -> None:
        if self._lane_task is not None:  # a lookup being answered is not an idle connection
            self._keepalive_handle = self._loop.call_at(
                self._loop.time() + self._keepalive_timeout, self._process_keepalive
            )
            return
        super()._process_keepalive()

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """Finish the lookup being answered (cancelled after `timeout`, as aiohttp cancels
        its own handlers), then aiohttp's shutdown."""
        self._force_close = True  # nothing new is read (aiohttp's shutdown sets it too)
        task = self._lane_task
        if task is not None:
            await asyncio.wait([task], timeout=timeout)
            if not task.done():  # the stores close next: the lookup must not outlive them
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await super().shutdown(timeout)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """problem+json for a request the app never saw (parser errors) or an error that escaped it."""
        if status >= 500:
            # Escaped the middleware (which maps everything it sees): a bug. The traceback is
            # formatted and scrubbed of numbers and tokens by the log processors.
            log.error("unhandled_error", status=status, exc_info=exc)
            _count_unhandled(request)
            code, detail = ("timeout", "the request timed out") if status == 504 else (
                "internal_error", "unexpected error; it was logged"
            )  # fmt: skip
        else:
            why = reason(exc)
            log.info("unparsable_request", status=status, error=type(exc).__name__, reason=why)
            code, detail = "invalid_request", f"the request is not valid HTTP: {why}"
        if request.writer.output_size > 0:
            # Part of a response is on the wire: the connection can only be closed (as aiohttp does).
            raise ConnectionError("the response had started; the connection is closed instead")
        response = problem_response(status, code, detail)
        response.force_close()
        return response


class EdgeServer(web.Server):
    """aiohttp's low-level server, making `EdgeRequestHandler`s with the app's lookup lane."""

    def __init__(self, lane: LookupLane | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane = lane

    def __call__(self) -> RequestHandler:
        """One handler per connection (what web.Server does, with our subclass)."""
        # _loop and _kwargs are web.Server's own constructor arguments, kept as it keeps them.
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """web.AppRunner serving through `EdgeServer` and the lookup's lane (`lane.LookupLane`;
    ``lane=False``: without it, every request aiohttp's, as the lane's tests compare): the
    app's startup, cleanup and shutdown as usual."""

    def __init__(self, app: web.Application, *, lane: bool = True, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.lane = lane

    async def _make_server(self) -> web.Server:
        # web.AppRunner starts the app and builds its Server (no public way to pick the class):
        # the same handler, request factory and arguments, our server class.
        built = await super()._make_server()
        return EdgeServer(
            LookupLane(self.app) if self.lane else None,
            built.request_handler,
            request_factory=built.request_factory,
            loop=asyncio.get_running_loop(),
            **self._kwargs,
        )


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    shutdown_timeout: float = 5.0,
    on_hangup: Callable[[], None] | None = None,
) -> None:
    """Serve `app` until SIGINT/SIGTERM (what web.run_app does for us, through EdgeRunner).

    `on_hangup` is called on SIGHUP (O2: reload the policy). `callgate serve` blocks SIGHUP
    while it starts, so one sent meanwhile waits here for the handler instead of ending it.
    """
    asyncio.run(_serve(app, host, port, reuse_port, shutdown_timeout, on_hangup))


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    reuse_port: bool,
    shutdown_timeout: float,
    on_hangup: Callable[[], None] | None = None,
) -> None:
    runner = EdgeRunner(app, access_log=None, keepalive_timeout=75.0, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if on_hangup is not None:
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # a pending one is delivered now
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        await stop.wait()
    finally:
        if on_hangup is not None:  # stopping: a late SIGHUP must neither reload nor kill the process
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        await runner.cleanup()
