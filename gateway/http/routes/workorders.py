"""Work orders (W1–W6): list, read with history, and events through the engine's state machine.

Scoping (W5): a `branch` token sees its own branch — a city branch its orders and its
counties', a county branch the orders dispatched to it; anything else is a 404, as if
it did not exist. Agents read everything; admins read and act on everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from entitlements.months import shanghai_today
from entitlements.workorders import EVENTS, STATUSES, apply_event, is_overdue
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import ApiError, invalid_request
from gateway.logs import mask
from gateway.services import consistency
from gateway.services.tokens import Principal
from gateway.stores.queries import workorders
from gateway.stores.queries.snapshot import Conn
from gateway.stores.queries.workorders import OrderEvent, WorkOrder

#: What branch staff may do (W2: the city dispatches; W3: the county reminds; W4: the
#: city re-suspends). Closing is an admin's (W6, checked by the engine).
BRANCH_EVENTS: dict[str, frozenset[str]] = {
    "city": frozenset({"dispatch", "remind", "paid", "overdue", "resuspend"}),
    "county": frozenset({"remind", "paid"}),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """What a caller may see: everything, one city (with its counties) or one county."""

    level: str  # "all" | "city" | "county"
    code: str | None = None

    def sees(self, order: WorkOrder) -> bool:
        """Whether the order is within this scope."""
        if self.level == "city":
            return order.city_code == self.code
        if self.level == "county":
            return order.county_code == self.code
        return True


async def scope_of(conn: Conn, principal: Principal) -> Scope:
    """The caller's scope (a branch token without a known city/county branch sees nothing)."""
    if principal.role != "branch":
        return Scope("all")
    assert principal.branch_code is not None  # branch tokens always carry their branch
    found = await workorders.branch(conn, principal.branch_code)
    if found is None or found.level not in ("city", "county"):
        raise ApiError(403, "forbidden", "this token's branch is not a city or county branch")
    return Scope(found.level, found.code)


def order_json(order: WorkOrder, *, full_number: bool) -> dict[str, Any]:
    """The list/read shape of an order (`msisdn` only for those who follow the customer up)."""
    out: dict[str, Any] = {
        "id": order.id,
        "status": order.status,
        "city_code": order.city_code,
        "county_code": order.county_code,
        "msisdn_masked": mask(order.msisdn),
        "reactivation_id": order.reactivation_id,
        "tracker": order.tracker,
        "due_at": order.due_at.isoformat(),
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "subscriber_county_code": order.subscriber_county,
    }
    if full_number:
        out["msisdn"] = order.msisdn
    return out


def _event_json(event: OrderEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": event.actor,
        "note": event.note,
        "at": event.at.isoformat(),
    }


def _not_found(order_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no work order {order_id} in your branch")


def _order_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise _not_found(0)
    return int(raw)


async def list_work_orders(request: web.Request) -> web.Response:
    """Orders newest first: ?branch= (within your scope), ?status= (comma-separated), ?limit=, ?before=."""
    principal = require(request, "branch", "agent")
    statuses = None
    if request.query.get("status"):
        statuses = [s.strip() for s in request.query["status"].split(",") if s.strip()]
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise invalid_request(f"unknown status {unknown[0]!r}; use {', '.join(STATUSES)}", "status")
    limit = inputs.positive_int(request.query.get("limit"), "limit", default=100, maximum=1000)
    before = inputs.positive_int(request.query.get("before"), "before")
    wanted = request.query.get("branch", "").strip() or None
    async with request.app[PG].acquire() as conn:
        scope = await scope_of(conn, principal)
        city, county = (scope.code, None) if scope.level == "city" else (None, scope.code)
        if wanted is not None:
            found = await workorders.branch(conn, wanted)
            if found is None:
                raise invalid_request(f"unknown branch {wanted!r}", "branch")
            inside = (
                scope.level == "all"
                or found.code == scope.code
                or (scope.level == "city" and found.parent_code == scope.code)
            )
            if not inside:
                raise ApiError(403, "forbidden", f"branch {wanted} is outside your branch")
            if found.level == "city":
                city = found.code
            elif found.level == "county":
                county = found.code
        assert limit is not None
        orders = await workorders.search(
            conn, city_code=city, county_code=county, statuses=statuses, before_id=before, limit=limit
        )
    full = principal.role != "agent"
    items = [order_json(o, full_number=full) for o in orders]
    return inputs.json({"items": items, "next_before": orders[-1].id if len(orders) == limit else None})


async def get_work_order(request: web.Request) -> web.Response:
    """One order with its event history (W5)."""
    principal = require(request, "branch", "agent")
    order_id = _order_id(request)
    async with request.app[PG].acquire() as conn:
        scope = await scope_of(conn, principal)
        order = await workorders.get(conn, order_id)
        if order is None or not scope.sees(order):
            raise _not_found(order_id)
        events = await workorders.history(conn, order_id)
    return inputs.json(
        {
            **order_json(order, full_number=principal.role != "agent"),
            "events": [_event_json(e) for e in events],
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
    assert kind is not None  # required
    app = request.app
    redis, metrics, policy = app[REDIS], app[METRICS], app[POLICY]
    now = app[SETTINGS].clock()
    async with app[PG].acquire() as conn:
        scope = await scope_of(conn, principal)
        msisdn = await workorders.msisdn_of(conn, order_id)
        if msisdn is None:
            raise _not_found(order_id)
        async with conn.transaction():
            # Lock order: the subscriber first, then the order (as every write path does).
            await conn.execute("SELECT 1 FROM subscribers WHERE msisdn = $1 FOR UPDATE", msisdn)
            order = await workorders.get(conn, order_id, lock=True)
            if order is None or not scope.sees(order):
                raise _not_found(order_id)
            if scope.level != "all" and kind not in BRANCH_EVENTS[scope.level]:
                raise ApiError(403, "forbidden", f"a {scope.level} branch may not record {kind!r} events")
            # an illegal event raises WorkOrderError: the middleware maps it to a 409 problem
            apply_event(
                order.status,
                kind,
                county_code=county_code,
                tracker=tracker,
                note=note,
                actor_role=principal.role,
            )
            if kind == "dispatch":
                assert county_code is not None  # the engine requires it for dispatch
                county = await workorders.branch(conn, county_code)
                if county is None or county.level != "county" or county.parent_code != order.city_code:
                    raise invalid_request(
                        f"{county_code!r} is not a county branch of {order.city_code} (W2)", "county_code"
                    )
            if kind == "overdue" and not is_overdue(order.status, order.due_at, now):
                raise ApiError(
                    409,
                    "invalid_transition",
                    f"the order is due at {order.due_at.isoformat()}; not overdue yet (W4)",
                    order_status=order.status,
                    event=kind,
                )
            await workorders.apply(
                conn, order, kind, actor=principal.actor, actor_role=principal.role, at=now, note=note,
                county_code=county_code, tracker=tracker,
            )  # fmt: skip
            if kind != "remind":
                await consistency.evict(redis, metrics, [msisdn])
        if kind != "remind":
            await consistency.refresh(conn, redis, metrics, policy, [msisdn], shanghai_today(now))
        updated = await workorders.get(conn, order_id)
        events = await workorders.history(conn, order_id)
    assert updated is not None
    metrics.work_order_events.labels(kind).inc()
    return inputs.json(
        {**order_json(updated, full_number=True), "events": [_event_json(e) for e in events]}, 201
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
        "status": {"enum": list(STATUSES)},
        "city_code": {"type": "string"},
        "county_code": {"type": ["string", "null"]},
        "msisdn_masked": {"type": "string"},
        "msisdn": {"type": "string", "description": "branch staff and admins"},
        "reactivation_id": {"type": "integer"},
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
        "summary": "Record an event: dispatch (county, tracker), remind, paid, overdue, resuspend, close",
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
