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

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from gateway.http.app import LookupLane
from gateway.http.keys import METRICS
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
    """aiohttp's connection handler, with our answers for requests it cannot hand to the app."""

    __slots__ = ()

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
    """aiohttp's low-level server, making `EdgeRequestHandler`s."""

    def __call__(self) -> RequestHandler:
        """One handler per connection (what web.Server does, with our subclass)."""
        # _loop and _kwargs are web.Server's own constructor arguments, kept as it keeps them.
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """web.AppRunner serving through `EdgeServer` and the lookup's lane (`app.LookupLane`):
    the app's startup, cleanup and shutdown as usual."""

    async def _make_server(self) -> web.Server:
        # web.AppRunner starts the app and builds its Server (no public way to pick the class):
        # the same handler, request factory and arguments, our server class.
        built = await super()._make_server()
        return EdgeServer(
            LookupLane(self.app, built.request_handler),
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
