"""The lookup's lane: `GET /v1/ivr/lookup`, nearly all of callgate's traffic, answered from
the connection's bytes, without aiohttp's per-request machinery (issue 22).

An IVR sends one small request at a time on a kept-alive connection. While a connection
has carried nothing but such lookups, each read that holds exactly one of them, in the
strict form `parse` accepts, is answered here: the same `begin`, `admit`, route code,
`problem_of` and `account` as the middleware runs, and the bytes aiohttp would write. The
first read that is anything else — another request, a lookup split over two reads, two
pipelined in one, HTTP/1.0, `Connection: close`, a body, a header or query character this
parser does not take — goes to aiohttp's own parser, and so does everything after it on
that connection: aiohttp never sees a connection in the middle of a message. A read that
comes while a lookup is being answered waits for the answer (responses stay in order).

`server.EdgeRequestHandler` runs the lane; `LookupLane` is what it runs per lookup.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, MultiDict
from yarl import URL

from gateway.http.app import LOOKUP_PATH, account, admit, begin, problem_of
from gateway.http.keys import LOOKUP, METRICS
from gateway.http.routes.lookup import lookup_body

#: How every lookup the lane takes starts.
PREFIX = b"GET " + LOOKUP_PATH.encode() + b"?"
#: aiohttp's default limit for a request line or a header field: a longer read is aiohttp's
#: to refuse (`EdgeRequestHandler` passes its own, smaller, limit when it was given one).
MAX_READ = 8190
MAX_HEADERS = 32  # header lines in a lookup the lane takes (IVRs send a handful)
# The query: parameters as IVRs send them, split on '&' and '=' as they are; with percent
# escapes, '+' or ';' decoded by yarl, as aiohttp decodes them. Anything else (a '#', a
# quote, a space …) is aiohttp's.
_QUERY_CHARACTERS = r"A-Za-z0-9._~=&:@!$'()*,/?-"
_PLAIN_QUERY = re.compile(f"[{_QUERY_CHARACTERS}]*")
_QUERY = re.compile(f"[%+;{_QUERY_CHARACTERS}]*")
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, spaces and tabs: no control characters
# The headers a lookup the lane takes may carry: none that aiohttp's parser or response
# reads (Content-Length, Transfer-Encoding, Upgrade, Expect, Proxy-Connection, the
# WebSocket keys, Content-Encoding …) — a request with any other header is aiohttp's.
# `Connection` is taken only as keep-alive, which changes nothing in HTTP/1.1.
_TAKEN = frozenset(
    (
        "host",
        "authorization",
        "x-request-id",
        "accept",
        "accept-encoding",
        "accept-language",
        "user-agent",
        "connection",
        "cache-control",
        "pragma",
        "x-forwarded-for",
        "x-real-ip",
        "traceparent",
        "tracestate",
    )
)


class RawRequest:
    """A lookup as the lane read it: what `auth.RequestView` asks of a request."""

    __slots__ = ("_items", "headers", "query")
    method = "GET"
    path = LOOKUP_PATH

    def __init__(self, headers: CIMultiDict[str], query: Mapping[str, str]) -> None:
        self.headers = headers
        self.query = query
        self._items: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        """What the route stored (the principal)."""
        return self._items[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        """Store the principal for the role check, as on aiohttp's request."""
        self._items[key] = value


def parse(data: bytes, limit: int = MAX_READ) -> RawRequest | None:
    """The lookup that is exactly `data` (one read), or None when aiohttp should read it.

    Taken: `GET /v1/ivr/lookup?QUERY HTTP/1.1` in at most `limit` bytes, CRLF line ends,
    ASCII, a Host header, up to `MAX_HEADERS` headers of `_TAKEN`, none repeated, values of
    visible characters, `Connection` only as keep-alive, and nothing after the empty line.
    Anything else is left to aiohttp, which answers it as it answers any request.
    """
    if len(data) > limit or not data.startswith(PREFIX):
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    head, end, rest = text.partition("\r\n\r\n")
    if not end or rest:
        return None
    lines = head.split("\r\n")
    target, _, version = lines[0][4:].partition(" ")
    if version != "HTTP/1.1":
        return None
    query_string = target[len(LOOKUP_PATH) + 1 :]
    query: Mapping[str, str]
    if _PLAIN_QUERY.fullmatch(query_string) is not None:
        plain: MultiDict[str] = MultiDict()
        for pair in query_string.split("&"):
            if pair:
                name, _, value = pair.partition("=")
                plain.add(name, value)
        query = plain
    elif _QUERY.fullmatch(query_string) is not None:
        query = URL.build(path=LOOKUP_PATH, query_string=query_string, encoded=True).query
    else:
        return None
    if len(lines) > MAX_HEADERS:
        return None
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or _NAME.fullmatch(name) is None or _VALUE.fullmatch(value) is None:
            return None
        value = value.strip(" \t")
        lowered = name.lower()
        if lowered not in _TAKEN or (lowered == "connection" and value.lower() != "keep-alive"):
            return None
        if name in headers:  # aiohttp refuses some repeated headers (Host …): it decides
            return None
        headers.add(name, value)
    if "Host" not in headers:  # HTTP/1.1 requires it; aiohttp refuses a request without
        return None
    return RawRequest(headers, query)


def whole(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An answer's bytes as aiohttp writes them: the status line, the headers in order,
    then Content-Length, Date and Server, as aiohttp adds them."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append(f"Content-Length: {len(body)}")
    lines.append(f"Date: {rfc822_formatted_time()}")
    lines.append(f"Server: {SERVER_SOFTWARE}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class LookupLane:
    """One app's lookups, answered as `context_middleware` and the route answer them."""

    __slots__ = ("app",)

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def answer(self, request: RawRequest) -> bytes:
        """The bytes of the answer to one lookup (problems included)."""
        app = self.app
        started, request_id, call_id = begin(request)
        metrics = app[METRICS]
        try:
            await admit(app, request)
            body, content_type = await lookup_body(request, app[LOOKUP])
            status, reason, headers = 200, "OK", [("Content-Type", content_type)]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            response = problem_of(exc, LOOKUP_PATH, metrics)
            if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
                raise TypeError("a problem answer is a web.Response with bytes") from exc
            status, reason, body = response.status, response.reason, response.body
            headers = list(response.headers.items())
        headers.append(("X-Request-Id", request_id))
        account(metrics, "GET", LOOKUP_PATH, LOOKUP_PATH, status, started, request_id, call_id)
        # Every header value is ours (constants, numbers, a request id `begin` checked): none
        # can carry a line break into the head.
        return whole(status, reason, headers, body)
