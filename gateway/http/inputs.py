"""Request parsing shared by the write routes: JSON objects, numbers, amounts, times,
choices — each failure a 400 problem naming the field."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from entitlements.errors import InvalidAmount
from entitlements.money import parse_yuan
from gateway.http.keys import LOOKUP
from gateway.http.problems import ApiError, invalid_request
from gateway.numbers import InvalidNumber, normalise

# Any visible ASCII: SIP Call-IDs use word characters such as ! % ~ ( ) < > besides @ . : -
CALL_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
#: An agent id (A1): as the agents table checks it.
AGENT_ID = re.compile(r"^[A-Za-z0-9@._-]{1,64}$")
#: Ten billion yuan: far above any real charge, well inside exact integer arithmetic everywhere.
MAX_AMOUNT_FEN = 10**12


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, else 400 invalid_request."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise invalid_request("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    return body


def msisdn(value: object, field: str = "msisdn") -> str:
    """A Chinese number normalised to its national format, else 400 invalid_number."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_number", f"{field} must be a phone number", field=field)
    try:
        return normalise(value)
    except InvalidNumber as exc:
        raise ApiError(400, "invalid_number", f"{field}: {exc.reason}", field=field) from None


def call_id(value: str | None) -> str | None:
    """A call id (the IVR's SIP Call-ID), None when absent."""
    if value is None or value == "":
        return None
    if not CALL_ID.match(value):
        raise invalid_request("call_id must be 1–128 visible ASCII characters (no spaces)", "call_id")
    return value


async def call_of(request: web.Request, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """H1: the body's `call_id` and the number the call memory holds for it (None when the
    call is unknown, expired, or the memory cannot say)."""
    raw = body.get("call_id")
    if raw is not None and not isinstance(raw, str):
        raise invalid_request("call_id must be a string", "call_id")
    found = call_id(raw)
    if found is None:
        return None, None
    return found, await request.app[LOOKUP].call_number(found)


def text(body: Mapping[str, Any], field: str, *, required: bool = True, max_length: int = 500) -> str | None:
    """A non-empty string field (stripped), or None when optional and absent."""
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid_request(f"{field} must be a non-empty string", field)
    value = value.strip()
    if len(value) > max_length:
        raise invalid_request(f"{field} is longer than {max_length} characters", field)
    return value


#: The OpenAPI shape of a request's `verification` (R9/H1), as `verification` reads it.
VERIFICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["method"],
    "properties": {
        "method": {"enum": ["own_number", "service_password"]},
        "password": {"type": "string", "description": "required for service_password"},
    },
}


def verification(body: Mapping[str, Any]) -> tuple[str, str | None]:
    """R9/H1: the body's `verification` object — its method, and the password that
    `service_password` needs (None for `own_number`)."""
    found = body.get("verification")
    if not isinstance(found, dict):
        raise invalid_request("verification must be an object with a method", "verification")
    method = choice(found, "method", ("own_number", "service_password"))
    assert method is not None  # a required choice
    password = text(found, "password", max_length=64) if method == "service_password" else None
    return method, password


def choice(
    body: Mapping[str, Any], field: str, allowed: Collection[str], *, required: bool = True
) -> str | None:
    """One of `allowed`."""
    value = body.get(field)
    if value is None and not required:
        return None
    if value not in allowed:
        raise invalid_request(f"{field} must be one of: {', '.join(allowed)}", field)
    return str(value)


def amount_fen(body: Mapping[str, Any], field: str) -> int:
    """A positive amount in yuan (number or decimal string, at most 2 decimals) as fen."""
    try:
        fen = parse_yuan(body.get(field), allow_zero=False)
    except InvalidAmount as exc:
        raise invalid_request(f"{field}: {exc}", field) from None
    if fen > MAX_AMOUNT_FEN:
        raise invalid_request(f"{field} is too large", field)
    return fen


def instant(value: object, field: str) -> datetime:
    """An ISO 8601 instant with its UTC offset."""
    if not isinstance(value, str):
        raise invalid_request(f"{field} must be an ISO 8601 time with offset", field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid_request(f"{field} must be an ISO 8601 time with offset", field) from None
    if parsed.tzinfo is None:
        raise invalid_request(f"{field} needs a UTC offset (e.g. +08:00)", field)
    return parsed


def agent_id(value: object, field: str = "agent_id") -> str:
    """An agent id (A1), else 400 invalid_request."""
    if not isinstance(value, str) or not AGENT_ID.match(value):
        raise invalid_request(f"{field} must be 1–64 letters, digits or @._-", field)
    return value


def optional_instant(body: Mapping[str, Any], field: str) -> datetime | None:
    """An optional ISO 8601 instant with its offset (absent or null: None)."""
    value = body.get(field)
    return None if value is None else instant(value, field)


def positive_int(
    value: str | None, field: str, *, default: int | None = None, maximum: int | None = None
) -> int | None:
    """A query parameter that is a positive whole number."""
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid_request(f"{field} must be a positive whole number", field)
    number = int(value)
    return min(number, maximum) if maximum is not None else number


def json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response (problem+json when `data` is a problem with status ≥ 400)."""
    content_type = "application/problem+json" if status >= 400 else "application/json"
    return web.Response(
        status=status, body=orjson.dumps(data), content_type=content_type, headers=dict(headers or {})
    )
