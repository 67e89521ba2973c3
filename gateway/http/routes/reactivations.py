"""POST /v1/reactivations — emergency reactivation (R1–R12), exactly once per key and month."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from entitlements.money import format_fen
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import domain_problem, invalid_request
from gateway.services import reactivations
from gateway.services.errors import ServiceError
from gateway.services.reactivations import Grant, ReactivationRequest

MAX_KEY = 200


def answer(result: Grant | ServiceError) -> tuple[int, dict[str, Any]]:
    """The client's answer to a grant (201) or a refusal (its problem), as stored for replays."""
    if isinstance(result, ServiceError):
        return domain_problem(result)
    body: dict[str, Any] = {
        "id": result.id,
        "msisdn": result.msisdn,
        "mode": result.mode,
        "granted_at": result.granted_at.isoformat(),
        "expires_at": result.expires_at.isoformat(),
        "tier": {"scheme": result.tier.scheme, "level": result.tier.level},
        "rules": list(result.rules),
    }
    if result.mode == "prepaid_credit":
        assert result.credit_limit_fen is not None  # R4 terms always carry an amount
        body["credit_limit_yuan"] = format_fen(result.credit_limit_fen)
        body["days"] = result.days
    else:
        body["hours"] = result.hours
    if result.work_order_id is not None:
        body["work_order_id"] = result.work_order_id
    return 201, body


async def post_reactivation(request: web.Request) -> web.Response:
    """Grant or refuse an emergency reactivation; a replayed key returns the first answer."""
    principal = require(request, "agent", "ivr")
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY:
        raise invalid_request(
            f"send an Idempotency-Key header (1–{MAX_KEY} characters) so a retry cannot grant twice",
            "Idempotency-Key",
        )
    body = await inputs.json_object(request)
    msisdn = inputs.msisdn(body.get("msisdn"))
    channel = inputs.choice(body, "channel", ("ivr", "agent"))
    method, password = inputs.verification(body)
    assert channel is not None  # a required choice
    app = request.app
    call_id, call_number = await inputs.call_of(request, body)
    req = ReactivationRequest(
        msisdn=msisdn,
        channel=channel,
        method=method,
        password=password,
        key=key,
        body_hash=reactivations.request_hash(msisdn, channel, method, password, call_id),
        actor=principal.actor,
        role=principal.role,
        call_id=call_id,
        call_number=call_number,
    )
    outcome = await reactivations.reactivate(
        app[PG], app[REDIS], app[METRICS], app[POLICY].current, req, app[SETTINGS].clock(), answer
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return inputs.json(outcome.body, outcome.status, headers)


def setup(app: web.Application) -> None:
    """Register the route."""
    app.router.add_post("/v1/reactivations", post_reactivation)


REQUEST = {
    "type": "object",
    "required": ["msisdn", "channel", "verification"],
    "properties": {
        "msisdn": {"type": "string", "examples": ["18612345678"]},
        "channel": {"enum": ["ivr", "agent"]},
        "call_id": {
            "type": "string",
            "pattern": inputs.CALL_ID.pattern,
            "description": "H1: the call whose lookup the service answered; own_number needs it",
        },
        "verification": inputs.VERIFICATION_SCHEMA,
    },
}
GRANT = {
    "type": "object",
    "required": ["id", "msisdn", "mode", "expires_at"],
    "properties": {
        "id": {"type": "integer"},
        "msisdn": {"type": "string"},
        "mode": {"enum": ["postpaid_48h", "prepaid_credit"]},
        "granted_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "credit_limit_yuan": {"type": "string", "description": "prepaid grants (R4)"},
        "days": {"type": "integer"},
        "hours": {"type": "integer"},
        "work_order_id": {"type": "integer", "description": "postpaid grants (R10)"},
        "tier": {"type": "object"},
        "rules": {"type": "array", "items": {"type": "string"}},
    },
}
register(
    "/v1/reactivations",
    "post",
    {
        "summary": "Emergency reactivation (R1–R12): grant or refusal, exactly once per Idempotency-Key",
        "parameters": [
            {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": REQUEST}}},
        "responses": {
            "201": json_response("granted", GRANT),
            "400": problem("invalid_request (no Idempotency-Key, bad body) or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than agent or ivr)"),
            "404": problem("unknown_subscriber"),
            "409": problem(
                "refused with a refusal code: identity_not_verified (with remaining_attempts, "
                "locked_until), initial_password, cancelled, not_entitled, not_suspended, "
                "not_in_arrears, monthly_limit, "
                "arrears_too_long, previous_unpaid; or invalid_request: the key was used with another body"
            ),
        },
    },
)
