"""Hotline services (H4, H5): `POST /v1/subscribers/{msisdn}/password` (change or reset)
and `POST /v1/subscribers/{msisdn}/emergency-stop` / `…/emergency-restart`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import domain_problem, invalid_request
from gateway.services import servicing
from gateway.services.errors import ServiceError
from gateway.services.servicing import PasswordRequest, StatusChanged, StopRequest

MAX_KEY = 200
CHANNELS = ("ivr", "agent")


def _password(body: dict[str, Any], field: str) -> str | None:
    """A password field: a string of at most 64 characters, never echoed."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise invalid_request(f"{field} must be a string of 1–64 characters", field)
    return value


async def post_password(request: web.Request) -> web.Response:
    """H4: change (old_password + new_password) or reset (neither; own-number call, H1)."""
    principal = require(request, "ivr", "agent")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    body = await inputs.json_object(request)
    channel = inputs.choice(body, "channel", CHANNELS)
    assert channel is not None  # required
    call_id, call_number = await inputs.call_of(request, body)
    req = PasswordRequest(
        msisdn=msisdn,
        channel=channel,
        call_id=call_id,
        call_number=call_number,
        old_password=_password(body, "old_password"),
        new_password=_password(body, "new_password"),
        actor=principal.actor,
        role=principal.role,
    )
    app = request.app
    changed_at = await servicing.change_password(
        app[PG], app[METRICS], app[POLICY].current, req, app[SETTINGS].clock()
    )
    return inputs.json({"msisdn": msisdn, "changed_at": changed_at.isoformat()})


def answer(result: StatusChanged | ServiceError) -> tuple[int, dict[str, Any]]:
    """The client's answer to a stop/restart (200) or a refusal (its problem), stored for replays."""
    if isinstance(result, ServiceError):
        return domain_problem(result)
    return 200, {
        "msisdn": result.msisdn,
        "status": result.status,
        "previous_status": result.previous_status,
        "changed_at": result.changed_at.isoformat(),
    }


async def _emergency(request: web.Request, action: str) -> web.Response:
    principal = require(request, "agent", "ivr")
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY:
        raise invalid_request(
            f"send an Idempotency-Key header (1–{MAX_KEY} characters) so a retry cannot act twice",
            "Idempotency-Key",
        )
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    body = await inputs.json_object(request)
    channel = inputs.choice(body, "channel", CHANNELS)
    verification = body.get("verification")
    if not isinstance(verification, dict):
        raise invalid_request("verification must be an object with a method", "verification")
    method = inputs.choice(verification, "method", ("own_number", "service_password"))
    password = _password(verification, "password") if method == "service_password" else None
    if method == "service_password" and password is None:
        raise invalid_request("verification.password is required for service_password", "password")
    assert channel is not None and method is not None  # required choices
    call_id, call_number = await inputs.call_of(request, body)
    req = StopRequest(
        action=action,
        msisdn=msisdn,
        channel=channel,
        method=method,
        password=password,
        call_id=call_id,
        call_number=call_number,
        key=key,
        actor=principal.actor,
        role=principal.role,
    )
    app = request.app
    outcome = await servicing.emergency(
        app[PG], app[REDIS], app[METRICS], app[POLICY].current, req, app[SETTINGS].clock(), answer
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return inputs.json(outcome.body, outcome.status, headers)


async def post_emergency_stop(request: web.Request) -> web.Response:
    """H5: emergency stop (loss report) of an active or arrears-suspended number."""
    return await _emergency(request, "emergency_stop")


async def post_emergency_restart(request: web.Request) -> web.Response:
    """H5: restart a stopped number (service password only), back to its status before the stop."""
    return await _emergency(request, "emergency_restart")


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_post("/v1/subscribers/{msisdn}/password", post_password)
    app.router.add_post("/v1/subscribers/{msisdn}/emergency-stop", post_emergency_stop)
    app.router.add_post("/v1/subscribers/{msisdn}/emergency-restart", post_emergency_restart)


_MSISDN = {"name": "msisdn", "in": "path", "required": True, "schema": {"type": "string"}}
_CALL_ID = {
    "type": "string",
    "pattern": inputs.CALL_ID.pattern,
    "description": "H1: the call whose lookup the service answered (own number needs it)",
}
register(
    "/v1/subscribers/{msisdn}/password",
    "post",
    {
        "summary": "H4: change the service password (old + new) or reset it (neither; own-number call)",
        "parameters": [_MSISDN],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["channel"],
                        "properties": {
                            "channel": {"enum": list(CHANNELS)},
                            "call_id": _CALL_ID,
                            "old_password": {"type": "string", "maxLength": 64},
                            "new_password": {"type": "string", "maxLength": 64},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": json_response(
                "changed (a reset's new password goes by SMS, never in this answer)",
                {
                    "type": "object",
                    "required": ["msisdn", "changed_at"],
                    "properties": {
                        "msisdn": {"type": "string"},
                        "changed_at": {"type": "string", "format": "date-time"},
                    },
                },
            ),
            "400": problem("invalid_request, invalid_number or weak_password"),
            "401": problem("unauthorized"),
            "403": problem("forbidden"),
            "404": problem("unknown_subscriber"),
            "409": problem("identity_not_verified (remaining_attempts, locked_until) or cancelled"),
        },
    },
)
_STOP_BODY = {
    "type": "object",
    "required": ["channel", "verification"],
    "properties": {
        "channel": {"enum": list(CHANNELS)},
        "call_id": _CALL_ID,
        "verification": {
            "type": "object",
            "required": ["method"],
            "properties": {
                "method": {"enum": ["own_number", "service_password"]},
                "password": {"type": "string", "maxLength": 64},
            },
        },
    },
}
_STOPPED = {
    "type": "object",
    "required": ["msisdn", "status", "previous_status", "changed_at"],
    "properties": {
        "msisdn": {"type": "string"},
        "status": {"enum": ["active", "suspended", "stopped"]},
        "previous_status": {"enum": ["active", "suspended", "stopped"]},
        "changed_at": {"type": "string", "format": "date-time"},
    },
}
for _path, _summary, _codes in (
    (
        "/v1/subscribers/{msisdn}/emergency-stop",
        "H5: emergency stop (loss report): own number or service password; Idempotency-Key",
        "identity_not_verified, already_stopped, cancelled",
    ),
    (
        "/v1/subscribers/{msisdn}/emergency-restart",
        "H5: restart a stopped number (service password only); Idempotency-Key",
        "identity_not_verified, not_stopped, cancelled",
    ),
):
    register(
        _path,
        "post",
        {
            "summary": _summary,
            "parameters": [
                _MSISDN,
                {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _STOP_BODY}}},
            "responses": {
                "200": json_response("done", _STOPPED),
                "400": problem("invalid_request or invalid_number"),
                "401": problem("unauthorized"),
                "403": problem("forbidden"),
                "404": problem("unknown_subscriber"),
                "409": problem(f"refused: {_codes}; or invalid_request: the key was used with another body"),
            },
        },
    )
