"""GET /v1/audit — the audit log (R11), newest first, for admins."""

from __future__ import annotations

from aiohttp import web

from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import PG
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import invalid_request
from gateway.stores.queries import audit


async def list_audit(request: web.Request) -> web.Response:
    """?msisdn= (matched through its keyed hash), ?since= (ISO instant), ?action=, ?limit=, ?before=."""
    require(request, "admin")
    query = request.query
    msisdn = inputs.msisdn(query["msisdn"]) if query.get("msisdn") else None
    since = inputs.instant(query["since"], "since") if query.get("since") else None
    action = query.get("action") or None
    if action is not None and (len(action) > 40 or not action.replace("_", "").isalpha()):
        raise invalid_request("action is a word such as reactivation, payment, status, reveal", "action")
    limit = inputs.positive_int(query.get("limit"), "limit", default=100, maximum=1000)
    before = inputs.positive_int(query.get("before"), "before")
    assert limit is not None
    async with request.app[PG].acquire() as conn:
        rows = await audit.search(
            conn, msisdn=msisdn, since=since, action=action, before_id=before, limit=limit
        )
    items = [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "role": r.role,
            "channel": r.channel,
            "action": r.action,
            "msisdn_masked": r.msisdn_mask,
            "outcome": r.outcome,
            "code": r.code,
            "detail": r.detail,
        }
        for r in rows
    ]
    return inputs.json({"items": items, "next_before": rows[-1].id if len(rows) == limit else None})


def setup(app: web.Application) -> None:
    """Register the route."""
    app.router.add_get("/v1/audit", list_audit)


register(
    "/v1/audit",
    "get",
    {
        "summary": "Audit log (R11): every reactivation decision, payment, status change and number reveal",
        "parameters": [
            {"name": "msisdn", "in": "query", "schema": {"type": "string"}},
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "action", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
            {"name": "before", "in": "query", "schema": {"type": "integer"}},
        ],
        "responses": {
            "200": json_response(
                "newest first",
                {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "at", "actor", "role", "action", "outcome", "code"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "at": {"type": "string", "format": "date-time"},
                                    "actor": {"type": "string"},
                                    "role": {"type": "string"},
                                    "channel": {"type": ["string", "null"]},
                                    "action": {"type": "string"},
                                    "msisdn_masked": {"type": ["string", "null"]},
                                    "outcome": {"type": "string"},
                                    "code": {"type": ["string", "null"]},
                                    "detail": {"type": "object"},
                                },
                            },
                        },
                        "next_before": {"type": ["integer", "null"]},
                    },
                },
            ),
            "400": problem("invalid_request or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (admin only)"),
        },
    },
)
