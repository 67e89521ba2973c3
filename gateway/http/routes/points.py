"""POST /v1/subscribers/{msisdn}/points/redemptions — redeem points for a catalogue item (P5),
exactly once per Idempotency-Key, never below a zero balance."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import domain_problem, invalid_request
from gateway.services import points
from gateway.services.errors import ServiceError
from gateway.services.points import Redemption, RedemptionRequest

MAX_KEY = 200


def answer(result: Redemption | ServiceError) -> tuple[int, dict[str, Any]]:
    """The client's answer to a redemption (201) or a refusal (its problem), as stored for replays."""
    if isinstance(result, ServiceError):
        return domain_problem(result)
    return 201, {
        "id": result.id,
        "msisdn": result.msisdn,
        "item": result.item,
        "points": result.points,
        "balance": result.balance,
        "redeemable": result.redeemable,
        "redeemed_at": result.redeemed_at.isoformat(),
        "rules": list(result.rules),
    }


async def post_redemption(request: web.Request) -> web.Response:
    """Redeem an item of the catalogue; a replayed key returns the first answer."""
    principal = require(request, "agent", "ivr")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY:
        raise invalid_request(
            f"send an Idempotency-Key header (1–{MAX_KEY} characters) so a retry cannot redeem twice",
            "Idempotency-Key",
        )
    body = await inputs.json_object(request)
    item = inputs.text(body, "item", max_length=64)
    channel = inputs.choice(body, "channel", ("ivr", "agent"))
    call_id, call_number = await inputs.call_of(request, body)
    method, password = inputs.verification(body)
    assert item is not None and channel is not None  # required fields
    app = request.app
    req = RedemptionRequest(
        msisdn=msisdn,
        item=item,
        channel=channel,
        method=method,
        password=password,
        call_id=call_id,
        call_number=call_number,
        key=key,
        body_hash=points.request_hash(msisdn, item, channel, method, password, call_id),
        actor=principal.actor,
        role=principal.role,
    )
    outcome = await points.redeem(
        app[PG], app[REDIS], app[METRICS], app[POLICY].current, req, app[SETTINGS].clock(), answer
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return inputs.json(outcome.body, outcome.status, headers)


def setup(app: web.Application) -> None:
    """Register the route."""
    app.router.add_post("/v1/subscribers/{msisdn}/points/redemptions", post_redemption)


REQUEST = {
    "type": "object",
    "required": ["item", "channel", "verification"],
    "properties": {
        "item": {
            "type": "string",
            "examples": ["topup_30"],
            "description": "a code of the policy's catalogue",
        },
        "channel": {"enum": ["ivr", "agent"]},
        "call_id": {"type": "string", "description": "the call the request is made on (H1)"},
        "verification": inputs.VERIFICATION_SCHEMA,
    },
}
REDEEMED = {
    "type": "object",
    "required": ["id", "item", "points", "balance"],
    "properties": {
        "id": {"type": "integer"},
        "msisdn": {"type": "string"},
        "item": {"type": "string"},
        "points": {"type": "integer", "description": "the item's price in points"},
        "balance": {"type": "integer", "description": "the points left"},
        "redeemable": {"type": "integer"},
        "redeemed_at": {"type": "string", "format": "date-time"},
        "rules": {"type": "array", "items": {"type": "string"}},
    },
}
register(
    "/v1/subscribers/{msisdn}/points/redemptions",
    "post",
    {
        "summary": "Redeem points for a catalogue item (P5), once per Idempotency-Key (roles agent, ivr)",
        "parameters": [
            {"name": "msisdn", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": REQUEST}}},
        "responses": {
            "201": json_response("redeemed", REDEEMED),
            "400": problem("invalid_request (no Idempotency-Key, bad body) or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than agent or ivr)"),
            "404": problem("unknown_subscriber"),
            "409": problem(
                "refused: below_threshold (P2, with threshold), insufficient_points (with balance and "
                "points), unknown_item, identity_not_verified (R9), cancelled; or invalid_request: the key "
                "was used with another body"
            ),
        },
    },
)
