"""Errors as RFC 9457 problem+json with a stable `code` — mapped in one middleware.

Two kinds reach the middleware: `ApiError`, raised by the edge itself (authentication,
rate limits, request parsing), which names its status; and the domain errors of the
engine and the services (`EntitlementsError`, `ServiceError`), which carry only a code —
`status_of` below is the one place a domain code becomes an HTTP status.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from entitlements.errors import EntitlementsError
from gateway.logs import mask, scrub_text
from gateway.numbers import ascii_digits
from gateway.services.errors import Conflict

PROBLEM_TYPE = "https://callgate.example/problems/"
_ECHO_NUMBER = re.compile(r"[0-9]{7,}")  # a phone number, an account, a long id: never echoed
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


#: The status of each domain error code (SPEC §6). Any other code is a refusal: 409
#: (the R codes, `cancelled`, `invalid_transition`, `policy_not_in_effect`, …).
DOMAIN_STATUS = {
    "invalid_request": 400,
    "invalid_number": 400,
    "weak_password": 400,  # H4
    "forbidden": 403,
    "not_found": 404,
    "unknown_subscriber": 404,
    "unknown_benefit": 404,  # V1: a code in the path the policy does not have
    "unknown_club": 404,  # V2
    "invalid_policy": 500,
    "invalid_override": 400,  # O2: a reload of an override with faults (the policy in force is kept)
    # A4: the queue engine's store did not answer in time; the ACD uses its own queue.
    "queue_unavailable": 503,
    "unknown_agent": 404,
    "unknown_call": 404,
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


def no_echo(text: str) -> str:
    """Problem text without anything number-shaped or secret a client sent (SECURITY.md):
    runs of 7+ digits (any script) and bearer tokens are masked; dates and counts stay."""
    if not text.isascii():
        text = ascii_digits(text)
    if _ECHO_NUMBER.search(text) is not None:
        text = _ECHO_NUMBER.sub(lambda m: mask(m.group()), text)
    return scrub_text(text) if "cg_" in text or "earer" in text else text


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem document as a dict; no text in it echoes a number or a token."""
    return {
        "type": PROBLEM_TYPE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": no_echo(detail),
        "code": code,
        **{k: no_echo(v) if isinstance(v, str) else v for k, v in extra.items()},
    }


def problem_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """The problem+json response for an error."""
    body = problem_body(status, code, detail, **extra)
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


def status_of(error: EntitlementsError) -> int:
    """The HTTP status of a domain error: by its code (`DOMAIN_STATUS`), else 409."""
    if isinstance(error, Conflict):  # same code as a malformed request, but a conflict (SPEC §6)
        return 409
    return DOMAIN_STATUS.get(error.code, 409)


def domain_problem(error: EntitlementsError) -> tuple[int, dict[str, Any]]:
    """(status, problem document) of a domain error (also what a replay stores)."""
    status = status_of(error)
    return status, problem_body(status, error.code, error.message, **error.details())


def from_domain_error(error: EntitlementsError) -> web.Response:
    """problem+json for a domain error of the engine or a service."""
    status, body = domain_problem(error)
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/problem+json")
