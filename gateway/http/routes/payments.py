"""POST /v1/payments — a payment settles the oldest bill first; clearing the arrears lifts
the suspension and resolves the open work order (W4); the cache follows at once."""

from __future__ import annotations

from aiohttp import web

from entitlements.money import format_fen
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.services import payments


async def post_payment(request: web.Request) -> web.Response:
    """Record a payment and what follows from it."""
    principal = require(request, "admin")
    body = await inputs.json_object(request)
    msisdn = inputs.msisdn(body.get("msisdn"))
    amount = inputs.amount_fen(body, "amount_yuan")
    app = request.app
    now = app[SETTINGS].clock()
    paid_at = inputs.instant(body["paid_at"], "paid_at") if body.get("paid_at") is not None else now
    result = await payments.pay(
        app[PG], app[REDIS], app[METRICS], app[POLICY].current, msisdn, amount, paid_at,
        actor=principal.actor, role=principal.role, now=now,
    )  # fmt: skip
    return inputs.json(
        {
            "id": result.id,
            "msisdn": msisdn,
            "amount_yuan": format_fen(amount),
            "paid_at": paid_at.isoformat(),
            "duplicate": result.duplicate,
            "outstanding_yuan": format_fen(result.outstanding_fen),
            "arrears_months": result.arrears_months,
            "status": result.status,
            "suspension_lifted": result.lifted,
            "work_orders": [{"id": i, "status": s} for i, s in result.orders],
        },
        200 if result.duplicate else 201,
    )


def setup(app: web.Application) -> None:
    """Register the route."""
    app.router.add_post("/v1/payments", post_payment)


register(
    "/v1/payments",
    "post",
    {
        "summary": "Record a payment; settles the oldest bill first and lifts an arrears suspension (W4)",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["msisdn", "amount_yuan"],
                        "properties": {
                            "msisdn": {"type": "string"},
                            "amount_yuan": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                            "paid_at": {
                                "type": "string",
                                "format": "date-time",
                                "description": "default now",
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
                    "required": ["id", "msisdn", "amount_yuan", "outstanding_yuan", "status"],
                    "properties": {
                        "id": {"type": "integer"},
                        "msisdn": {"type": "string"},
                        "amount_yuan": {"type": "string"},
                        "paid_at": {"type": "string", "format": "date-time"},
                        "duplicate": {"type": "boolean"},
                        "outstanding_yuan": {"type": "string"},
                        "arrears_months": {"type": "integer"},
                        "status": {"enum": ["active", "suspended", "cancelled", "stopped"]},
                        "suspension_lifted": {"type": "boolean"},
                        "work_orders": {"type": "array", "items": {"type": "object"}},
                    },
                },
            ),
            "200": json_response(
                "the same payment (number, time, amount) was already recorded", {"type": "object"}
            ),
            "400": problem("invalid_request or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (admin only)"),
            "404": problem("unknown_subscriber"),
        },
    },
)
