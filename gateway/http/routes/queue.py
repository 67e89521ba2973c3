"""The queue engine's calls and figures (A4, A5): enqueue, outcome events, live statistics
(JSON and Server-Sent Events for the wallboard) and the stored intervals."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from aiohttp import web

from gateway.http import inputs, openapi
from gateway.http.auth import require
from gateway.http.keys import QUEUE, SETTINGS, TOKENS
from gateway.http.problems import ApiError, invalid_request
from gateway.services.queue import OUTCOMES
from gateway.services.screenpop import now_ms, sse

KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 1.0  # an open stream re-checks its token (revocation ends it within seconds)
MAX_HISTORY = timedelta(days=92)
STATS_ROLES = ("ivr", "agent")


async def post_call(request: web.Request) -> web.Response:
    """A4: the ACD queues a call; callgate runs the lookup and answers desk, priority, position."""
    require(request, "ivr")
    body = await inputs.json_object(request)
    call_id = inputs.call_id(inputs.text(body, "call_id", max_length=128))
    assert call_id is not None
    ani = body.get("ani")
    if ani is not None and not isinstance(ani, str):
        raise invalid_request(
            "ani must be a string (empty, anonymous or unknown for a withheld number)", "ani"
        )
    answer = await request.app[QUEUE].enqueue(call_id, ani, inputs.optional_instant(body, "enqueued_at"))
    return inputs.json(answer, status=201)


async def post_event(request: web.Request) -> web.Response:
    """A4: an outcome of a queued call: answered, abandoned or completed (with the ACD's time)."""
    require(request, "ivr")
    call_id = inputs.call_id(request.match_info["call_id"])
    assert call_id is not None
    body = await inputs.json_object(request)
    kind = inputs.choice(body, "kind", OUTCOMES)
    assert kind is not None
    answer = await request.app[QUEUE].event(call_id, kind, inputs.optional_instant(body, "at"))
    return inputs.json(answer)


async def get_stats(request: web.Request) -> web.Response:
    """A4: per desk the live figures (rolling 30 minutes and the current 15-minute interval)."""
    require(request, *STATS_ROLES)
    return inputs.json(await request.app[QUEUE].stats())


def _time(value: str | None, field: str) -> datetime:
    if value is None or value == "":
        raise invalid_request(f"{field} is required (an ISO 8601 time with offset)", field)
    return inputs.instant(value, field)


async def get_history(request: web.Request) -> web.Response:
    """A4: the finished 15-minute intervals starting in [from, to), from PostgreSQL."""
    require(request, *STATS_ROLES)
    first = _time(request.query.get("from"), "from")
    last = _time(request.query.get("to"), "to")
    if last <= first:
        raise invalid_request("to must be after from", "to")
    if last - first > MAX_HISTORY:
        raise invalid_request("at most 92 days at a time", "to")
    items = await request.app[QUEUE].history(first, last)
    return inputs.json({"from": first.isoformat(), "to": last.isoformat(), "items": items})


def _token_still_valid(request: web.Request) -> bool:
    try:
        request.app[TOKENS].principal(request.headers.get("Authorization"), request.app[SETTINGS].clock())
    except ApiError:
        return False
    return True


async def get_stream(request: web.Request) -> web.StreamResponse:
    """A5: Server-Sent Events `stats` with the figures whenever they change (the wallboard)."""
    require(request, *STATS_ROLES)
    service = request.app[QUEUE]
    queue = service.watch()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    loop = asyncio.get_running_loop()
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        if service.latest is not None:
            await response.write(sse("stats", service.latest, str(now_ms())))
        keepalive_at = loop.time() + KEEPALIVE_SECONDS
        while True:
            try:
                payload: bytes | None = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                payload = None
            if not _token_still_valid(request):
                break
            if payload is not None:
                await response.write(sse("stats", payload, str(now_ms())))
            elif loop.time() >= keepalive_at:
                await response.write(b": keepalive\n\n")
            else:
                continue
            keepalive_at = loop.time() + KEEPALIVE_SECONDS
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        service.unwatch(queue)
    return response


COUNTS = ("offered", "answered", "abandoned", "short_abandoned", "answered_within")
RATIOS = ("service_level", "service_level_answered", "asa_s", "abandon_rate")
FIGURES = {
    "type": "object",
    "required": [
        "offered", "answered", "abandoned", "short_abandoned", "answered_within", "service_level",
        "service_level_answered", "asa_s", "abandon_rate",
    ],
    "properties": {
        **{name: {"type": "integer"} for name in COUNTS},
        **{name: {"type": ["number", "null"]} for name in RATIOS},
        "meets_target": {"type": ["boolean", "null"]},
    },
}  # fmt: skip
DESK = {
    "type": "object",
    "required": ["waiting", "longest_wait_s", "agents", "window", "interval"],
    "properties": {
        "waiting": {"type": "integer"},
        "longest_wait_s": {"type": "number"},
        "agents": {
            "type": "object",
            "properties": {
                s: {"type": "integer"} for s in ("available", "busy", "wrap_up", "away", "staffed")
            },
        },
        "window": FIGURES,
        "interval": FIGURES,
    },
}
STATS = {
    "type": "object",
    "required": ["threshold_s", "short_abandon_s", "target", "desks"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "threshold_s": {"type": "integer"},
        "short_abandon_s": {"type": "integer"},
        "target": {"type": "number"},
        "window_minutes": {"type": "integer"},
        "desks": {"type": "object", "additionalProperties": DESK},
    },
}
PROBLEMS = {
    "400": openapi.problem("invalid_request"),
    "401": openapi.problem("unauthorized"),
    "403": openapi.problem("forbidden"),
    "503": openapi.problem(
        "queue_unavailable: Redis did not answer in the lookup budget; use the ACD's queue"
    ),
}


def setup(app: web.Application) -> None:
    """Register the routes and document them."""
    app.router.add_post("/v1/queue/calls", post_call)
    app.router.add_post("/v1/queue/calls/{call_id}/events", post_event)
    app.router.add_get("/v1/queue/stats", get_stats)
    app.router.add_get("/v1/queue/stats/history", get_history)
    app.router.add_get("/v1/queue/stats/stream", get_stream)
    openapi.register(
        "/v1/queue/calls",
        "post",
        {
            "summary": "A4: queue a call after its lookup (role ivr; a replay of call_id answers the same)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["call_id"],
                            "properties": {
                                "call_id": {"type": "string", "pattern": inputs.CALL_ID.pattern},
                                "ani": {"type": ["string", "null"], "maxLength": 32},
                                "enqueued_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": openapi.json_response(
                    "queued",
                    {
                        "type": "object",
                        "required": [
                            "call_id",
                            "desk",
                            "priority",
                            "min_agent_star",
                            "position",
                            "expected_wait_s",
                        ],
                        "properties": {
                            "call_id": {"type": "string"},
                            "desk": {"enum": ["vip", "general"]},
                            "priority": {"type": "integer"},
                            "min_agent_star": {"type": "integer"},
                            "position": {"type": "integer"},
                            "expected_wait_s": {
                                "type": ["integer", "null"],
                                "description": "a rough estimate; null while nobody staffs the desk",
                            },
                            "degraded": {"type": "boolean"},
                        },
                    },
                ),
                **PROBLEMS,
                "400": openapi.problem("invalid_request or invalid_number"),
            },
        },
    )
    openapi.register(
        "/v1/queue/calls/{call_id}/events",
        "post",
        {
            "summary": "A4: answered, abandoned or completed, at the ACD's time (role ivr)",
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["kind"],
                            "properties": {
                                "kind": {"enum": list(OUTCOMES)},
                                "at": {"type": "string", "format": "date-time"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": openapi.json_response("recorded (or a replay)", {"type": "object"}),
                **PROBLEMS,
                "404": openapi.problem("unknown_call"),
                "409": openapi.problem("invalid_transition"),
            },
        },
    )
    openapi.register(
        "/v1/queue/stats",
        "get",
        {
            "summary": "A4/Q5: live figures per desk (roles ivr, agent, admin)",
            "responses": {"200": openapi.json_response("the figures", STATS), **PROBLEMS},
        },
    )
    openapi.register(
        "/v1/queue/stats/history",
        "get",
        {
            "summary": "A4: finished 15-minute intervals from PostgreSQL (roles ivr, agent, admin)",
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "format": "date-time"},
                },
            ],
            "responses": {"200": openapi.json_response("intervals", {"type": "object"}), **PROBLEMS},
        },
    )
    openapi.register(
        "/v1/queue/stats/stream",
        "get",
        {
            "summary": "A5: Server-Sent Events `stats` whenever the figures change (roles ivr, agent, admin)",
            "responses": {
                "200": {
                    "description": "event stream: `stats` events, data as GET /v1/queue/stats",
                    "content": {
                        "text/event-stream": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "event": {"const": "stats"},
                                    "data": {"type": "string"},
                                    "id": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                **PROBLEMS,
            },
        },
    )
