"""Errors as RFC 9457 problem+json with a stable `code` — mapped in one middleware."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROBLEM_TYPE = "https://callgate.example/problems/"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ApiError(Exception):
    """An error the client can act on: HTTP status, stable code, human detail."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def invalid_request(detail: str, field: str | None = None) -> ApiError:
    """400 invalid_request naming the field at fault."""
    return ApiError(400, "invalid_request", detail, **({"field": field} if field else {}))


def problem_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """The problem+json response for an error."""
    body = {
        "type": PROBLEM_TYPE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def from_exception(exc: ApiError) -> web.Response:
    """problem+json for an ApiError."""
    headers = exc.extra.pop("headers", None)
    return problem_response(exc.status, exc.code, exc.detail, headers=headers, **exc.extra)
