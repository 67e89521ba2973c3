"""POST /v1/credit/authorize — the charging side's atomic debit of the temporary credit (R5)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from entitlements.money import format_fen
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import CREDIT, METRICS, SETTINGS
from gateway.http.openapi import json_response, problem, register


async def post_credit_authorize(request: web.Request) -> web.Response:
    """Approve or decline one charge; the same ref again returns the first answer."""
    require(request, "ivr")
    body = await inputs.json_object(request)
    msisdn = inputs.msisdn(body.get("msisdn"))
    amount = inputs.amount_fen(body, "amount_yuan")
    ref = inputs.text(body, "ref", max_length=200)
    assert ref is not None  # required
    app = request.app
    answer = await app[CREDIT].authorize(msisdn, ref, amount, app[SETTINGS].clock())
    out: dict[str, Any] = {"approved": answer.approved, "remaining_yuan": format_fen(answer.remaining_fen)}
    if answer.code:
        out["code"] = answer.code
    if answer.degraded:
        out["degraded"] = True
    if not answer.replayed:
        app[METRICS].credit.labels(str(answer.approved).lower(), answer.code or "").inc()
    return inputs.json(out, headers={"Idempotent-Replayed": "true"} if answer.replayed else None)


def setup(app: web.Application) -> None:
    """Register the route (the service itself comes from the app factory's credit context)."""
    app.router.add_post("/v1/credit/authorize", post_credit_authorize)


register(
    "/v1/credit/authorize",
    "post",
    {
        "summary": "Atomic check-and-debit of the temporary credit (R5), idempotent per ref",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["msisdn", "amount_yuan", "ref"],
                        "properties": {
                            "msisdn": {"type": "string"},
                            "amount_yuan": {
                                "oneOf": [{"type": "string"}, {"type": "number"}],
                                "description": "positive, at most 2 decimals",
                            },
                            "ref": {"type": "string", "maxLength": 200},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": json_response(
                "the decision",
                {
                    "type": "object",
                    "required": ["approved", "remaining_yuan"],
                    "properties": {
                        "approved": {"type": "boolean"},
                        "remaining_yuan": {"type": "string"},
                        "code": {"enum": ["no_credit", "credit_exhausted", "credit_expired"]},
                        "degraded": {
                            "type": "boolean",
                            "description": "neither store answered: declined, nothing spent",
                        },
                    },
                },
            ),
            "400": problem("invalid_request or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than ivr)"),
            "404": problem("unknown_subscriber"),
            "409": problem("invalid_request: the ref was used for another number or amount"),
        },
    },
)
