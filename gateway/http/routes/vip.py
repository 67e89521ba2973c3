"""VIP services and clubs (V1, V2), for agents:
POST /v1/subscribers/{msisdn}/benefits/{code}/uses — record a use within the yearly quota;
POST /v1/subscribers/{msisdn}/clubs/{code} — join a club."""

from __future__ import annotations

import re

from aiohttp import web

from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import PG, POLICY, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import invalid_request
from gateway.services import loyalty

_CODE = r"^[a-z][a-z0-9_]{0,63}$"
EARLIEST_YEAR = 2000
_CODE_RE = re.compile(_CODE)


def _code(request: web.Request) -> str:
    code = request.match_info["code"]
    if not _CODE_RE.match(code):
        raise invalid_request("the code is a lower-case snake_case name from the policy", "code")
    return code


async def post_use(request: web.Request) -> web.Response:
    """Record one use of a benefit (201 with what is left of the year's quota)."""
    principal = require(request, "agent")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    code = _code(request)
    body = await inputs.json_object(request) if request.can_read_body else {}
    now = request.app[SETTINGS].clock()
    at = inputs.instant(body["at"], "at") if body.get("at") is not None else now
    if at > now:
        raise invalid_request("at is in the future: record a use once it happened", "at")
    if at.year < EARLIEST_YEAR:  # (also keeps the calendar-year arithmetic inside its range)
        raise invalid_request(f"at is before {EARLIEST_YEAR}: not a use to count now", "at")
    place = inputs.text(body, "place", required=False, max_length=64)
    used = await loyalty.record_use(
        request.app[PG], request.app[POLICY].current, msisdn, code, at, place,
        actor=principal.actor, role=principal.role, now=now,
    )  # fmt: skip
    return inputs.json(
        {
            "id": used.id,
            "benefit": used.benefit,
            "year": used.year,
            "used": used.used,
            "quota": used.quota,
            "remaining": used.remaining,
            "at": used.at.isoformat(),
            "place": used.place,
            "rules": list(used.rules),
        },
        201,
    )


async def post_club(request: web.Request) -> web.Response:
    """Join a club (201; 200 when the customer already is a member)."""
    principal = require(request, "agent")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    code = _code(request)
    joined = await loyalty.join_club(
        request.app[PG], request.app[POLICY].current, msisdn, code,
        actor=principal.actor, role=principal.role, now=request.app[SETTINGS].clock(),
    )  # fmt: skip
    return inputs.json(
        {"club": joined.club, "joined_on": joined.joined_on.isoformat(), "new": joined.created,
         "rules": list(joined.rules)},
        201 if joined.created else 200,
    )  # fmt: skip


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_post("/v1/subscribers/{msisdn}/benefits/{code}/uses", post_use)
    app.router.add_post("/v1/subscribers/{msisdn}/clubs/{code}", post_club)


_PARAMS = [
    {"name": "msisdn", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "code", "in": "path", "required": True, "schema": {"type": "string", "pattern": _CODE}},
]
register(
    "/v1/subscribers/{msisdn}/benefits/{code}/uses",
    "post",
    {
        "summary": "Record a use of a VIP service within its yearly quota (V1; role agent)",
        "parameters": _PARAMS,
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "at": {"type": "string", "format": "date-time", "description": "default: now"},
                            "place": {
                                "type": "string",
                                "description": "required for the lounges: one of theirs",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "201": json_response(
                "recorded",
                {
                    "type": "object",
                    "required": ["id", "benefit", "remaining"],
                    "properties": {
                        "id": {"type": "integer"},
                        "benefit": {"type": "string"},
                        "year": {"type": "integer"},
                        "used": {"type": "integer"},
                        "quota": {"type": ["integer", "null"], "description": "null: unlimited"},
                        "remaining": {"type": ["integer", "null"], "description": "null: unlimited"},
                    },
                },
            ),
            "400": problem("invalid_request (at, place) or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than agent)"),
            "404": problem("unknown_subscriber or unknown_benefit"),
            "409": problem("not_entitled, quota_used (with quota, used, year), cancelled"),
        },
    },
)
register(
    "/v1/subscribers/{msisdn}/clubs/{code}",
    "post",
    {
        "summary": "Join a club (V2; role agent): VIPs at once, others after 3 months in the network",
        "parameters": _PARAMS,
        "responses": {
            "200": json_response("already a member (the first joining day is kept)", {"type": "object"}),
            "201": json_response(
                "joined",
                {
                    "type": "object",
                    "required": ["club", "joined_on"],
                    "properties": {
                        "club": {"type": "string"},
                        "joined_on": {"type": "string", "format": "date"},
                        "new": {"type": "boolean"},
                    },
                },
            ),
            "400": problem("invalid_number or invalid_request"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than agent)"),
            "404": problem("unknown_subscriber or unknown_club"),
            "409": problem("tenure_too_short (with eligible_from), cancelled"),
        },
    },
)
