"""POST /v1/reactivations — emergency reactivation (R1–R12), exactly once per key and month."""

from __future__ import annotations

import hashlib

import orjson
from aiohttp import web

from entitlements.months import shanghai_today
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import invalid_request
from gateway.logs import number_ref
from gateway.services import consistency, credit
from gateway.stores.queries import reactivations
from gateway.stores.queries.reactivations import ReactivationRequest

MAX_KEY = 200


def request_hash(msisdn: str, channel: str, method: str, password: str | None) -> str:
    """What a replay of an Idempotency-Key must match (the password only as a keyed hash)."""
    canonical = {
        "msisdn": msisdn,
        "channel": channel,
        "method": method,
        "password": number_ref("service-password:" + password) if password is not None else None,
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
    verification = body.get("verification")
    if not isinstance(verification, dict):
        raise invalid_request("verification must be an object with a method", "verification")
    method = inputs.choice(verification, "method", ("own_number", "service_password"))
    password = None
    if method == "service_password":
        password = inputs.text(verification, "password", max_length=64)
    assert channel is not None and method is not None  # required choices
    app = request.app
    redis, metrics, policy = app[REDIS], app[METRICS], app[POLICY]
    now = app[SETTINGS].clock()
    req = ReactivationRequest(
        msisdn=msisdn,
        channel=channel,
        method=method,
        password=password,
        key=key,
        body_hash=request_hash(msisdn, channel, method, password),
        actor=principal.actor,
        role=principal.role,
    )

    async def evict() -> bool:
        return await consistency.evict(redis, metrics, [msisdn], credit.state_key(msisdn))

    async with app[PG].acquire() as conn:
        outcome = await reactivations.reactivate(conn, policy, req, now, evict)
        if not outcome.replayed and outcome.status == 201:
            await consistency.refresh(conn, redis, metrics, policy, [msisdn], shanghai_today(now))
            # The credit state reloads from PostgreSQL on the next authorisation (R4).
            await consistency.evict(redis, metrics, [], credit.state_key(msisdn))
    if not outcome.replayed:
        metrics.reactivations.labels(
            "granted" if outcome.status == 201 else "refused", outcome.code or ""
        ).inc()
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
        "verification": {
            "type": "object",
            "required": ["method"],
            "properties": {
                "method": {"enum": ["own_number", "service_password"]},
                "password": {"type": "string", "description": "required for service_password"},
            },
        },
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
                "locked_until), cancelled, not_entitled, not_suspended, monthly_limit, "
                "arrears_too_long, previous_unpaid; or invalid_request: the key was used with another body"
            ),
        },
    },
)
