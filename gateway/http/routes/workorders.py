"""Work orders (W1–W6): list, read with history, and events through the engine's state
machine (`gateway.services.workorders`, which also scopes branch staff to their branch, W5)."""

from __future__ import annotations

from aiohttp import web

from entitlements.workorders import EVENTS, KINDS, STATUSES
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import invalid_request
from gateway.http.views import event_json, order_json
from gateway.services import workorders


def _order_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise workorders.not_found(0)
    return int(raw)


def _whole(body: dict[str, object], field: str) -> int | None:
    """An optional whole-number field (the engine checks its range)."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**62:
        raise invalid_request(f"{field} must be a whole number", field)
    return value


async def list_work_orders(request: web.Request) -> web.Response:
    """Orders newest first: ?branch= (within your scope), ?status= (comma-separated), ?limit=, ?before=."""
    principal = require(request, "branch", "agent")
    statuses = None
    if request.query.get("status"):
        statuses = [s.strip() for s in request.query["status"].split(",") if s.strip()]
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise invalid_request(f"unknown status {unknown[0]!r}; use {', '.join(STATUSES)}", "status")
    kinds = None
    if request.query.get("kind"):  # H8
        kinds = [k.strip() for k in request.query["kind"].split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise invalid_request(f"unknown kind {unknown[0]!r}; use {', '.join(KINDS)}", "kind")
    limit = inputs.positive_int(request.query.get("limit"), "limit", default=100, maximum=1000)
    before = inputs.positive_int(request.query.get("before"), "before")
    wanted = request.query.get("branch", "").strip() or None
    assert limit is not None
    orders = await workorders.search(
        request.app[PG],
        principal,
        branch=wanted,
        statuses=statuses,
        before_id=before,
        limit=limit,
        kinds=kinds,
    )
    full = principal.role != "agent"
    items = [order_json(o, full_number=full) for o in orders]
    return inputs.json({"items": items, "next_before": orders[-1].id if len(orders) == limit else None})


async def get_work_order(request: web.Request) -> web.Response:
    """One order with its event history (W5)."""
    principal = require(request, "branch", "agent")
    order, events = await workorders.read(request.app[PG], principal, _order_id(request))
    return inputs.json(
        {
            **order_json(order, full_number=principal.role != "agent"),
            "events": [event_json(e) for e in events],
        }
    )


async def post_work_order_event(request: web.Request) -> web.Response:
    """Apply one event (W2–W6); illegal transitions are 409 invalid_transition."""
    principal = require(request, "branch")
    order_id = _order_id(request)
    body = await inputs.json_object(request)
    kind = inputs.choice(body, "kind", EVENTS)
    county_code = inputs.text(body, "county_code", required=False, max_length=32)
    tracker = inputs.text(body, "tracker", required=False, max_length=100)
    note = inputs.text(body, "note", required=False, max_length=1000)
    hours = _whole(body, "hours")  # H9: extend
    manager_id = _whole(body, "manager_id")  # H8: done on a manager assignment
    assert kind is not None  # required
    app = request.app
    order, events = await workorders.record_event(
        app[PG], app[REDIS], app[METRICS], app[POLICY].current, principal, order_id, kind,
        county_code=county_code, tracker=tracker, note=note, now=app[SETTINGS].clock(), hours=hours,
        manager_id=manager_id,
    )  # fmt: skip
    return inputs.json(
        {**order_json(order, full_number=True), "events": [event_json(e) for e in events]}, 201
    )


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/v1/work-orders", list_work_orders)
    app.router.add_get("/v1/work-orders/{id}", get_work_order)
    app.router.add_post("/v1/work-orders/{id}/events", post_work_order_event)


ORDER = {
    "type": "object",
    "required": ["id", "status", "city_code", "county_code"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": list(KINDS)},
        "status": {"enum": list(STATUSES)},
        "city_code": {"type": "string"},
        "county_code": {"type": ["string", "null"]},
        "msisdn_masked": {"type": "string"},
        "msisdn": {"type": "string", "description": "branch staff and admins"},
        "reactivation_id": {"type": ["integer", "null"]},
        "manager_id": {"type": ["integer", "null"]},
        "tracker": {"type": ["string", "null"]},
        "due_at": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "subscriber_county_code": {"type": ["string", "null"]},
    },
}
EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["created", *EVENTS]},
        "from_status": {"type": ["string", "null"]},
        "to_status": {"type": "string"},
        "actor": {"type": "string"},
        "note": {"type": ["string", "null"]},
        "at": {"type": "string", "format": "date-time"},
    },
}
ORDER_WITH_EVENTS = {
    "allOf": [ORDER, {"type": "object", "properties": {"events": {"type": "array", "items": EVENT}}}]
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
register(
    "/v1/work-orders",
    "get",
    {
        "summary": "Work orders in your scope (branch: its own, a city also its counties; agent, admin: all)",
        "parameters": [
            {"name": "branch", "in": "query", "schema": {"type": "string"}},
            {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "comma-separated"},
            {
                "name": "kind",
                "in": "query",
                "schema": {"type": "string"},
                "description": "H8, comma-separated",
            },
            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
            {"name": "before", "in": "query", "schema": {"type": "integer"}, "description": "id cursor"},
        ],
        "responses": {
            "200": json_response(
                "newest first",
                {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "items": ORDER},
                        "next_before": {"type": ["integer", "null"]},
                    },
                },
            ),
            "400": problem("invalid_request (unknown status or branch)"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (a branch outside yours, or another role)"),
        },
    },
)
register(
    "/v1/work-orders/{id}",
    "get",
    {
        "summary": "One work order with its event history (W5)",
        "parameters": [_ID],
        "responses": {
            "200": json_response("the order", ORDER_WITH_EVENTS),
            "401": problem("unauthorized"),
            "403": problem("forbidden"),
            "404": problem("not_found (or outside your branch)"),
        },
    },
)
register(
    "/v1/work-orders/{id}/events",
    "post",
    {
        "summary": "Record an event: dispatch (county, tracker), remind, extend (hours), paid, overdue, "
        "resuspend, done (manager_id), close",
        "parameters": [_ID],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["kind"],
                        "properties": {
                            "kind": {"enum": list(EVENTS)},
                            "county_code": {"type": "string"},
                            "tracker": {"type": "string"},
                            "note": {"type": "string"},
                            "hours": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 72,
                                "description": "extend (H9)",
                            },
                            "manager_id": {
                                "type": "integer",
                                "description": "done on a manager assignment (H8)",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "201": json_response("the order after the event, with its history", ORDER_WITH_EVENTS),
            "400": problem(
                "invalid_request (dispatch without county/tracker, close without note, bad county)"
            ),
            "401": problem("unauthorized"),
            "403": problem("forbidden (agents read only; the event is not your branch's; close is admin's)"),
            "404": problem("not_found (or outside your branch)"),
            "409": problem("invalid_transition"),
        },
    },
)
