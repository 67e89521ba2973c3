"""Calls reaching agents: the ACD's "connected" event and the agent widget's event stream."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from aiohttp import web

from gateway.http import inputs, openapi
from gateway.http.auth import require, require_agent
from gateway.http.keys import AGENTS, LOOKUP, SCREENPOP, SETTINGS, TOKENS
from gateway.http.problems import ApiError, invalid_request
from gateway.http.views import ANSWER_SCHEMA
from gateway.services.screenpop import now_ms, sse

_AGENT_ID = re.compile(r"^[A-Za-z0-9@._-]{1,64}$")
KEEPALIVE_SECONDS = 15.0
# How often an open stream re-checks its token against the in-process cache (reloaded every
# 2 s): a revoked or expired token's stream ends within about three seconds.
RECHECK_SECONDS = 1.0


def _agent_id(value: object, where: str = "agent_id") -> str:
    if not isinstance(value, str) or not _AGENT_ID.match(value):
        raise invalid_request("agent_id must be 1–64 letters, digits or @._-", where)
    return value


async def post_connected(request: web.Request) -> web.Response:
    """The ACD connected a call to an agent: pop the caller on the agent's widget (role ivr)."""
    require(request, "ivr")
    call_id = inputs.call_id(request.match_info["call_id"])
    assert call_id is not None
    try:
        body = await request.json(loads=orjson.loads)
    except (orjson.JSONDecodeError, UnicodeError):  # also a charset that decodes wrongly or raises
        raise invalid_request("the body is not JSON") from None
    except LookupError:  # Content-Type: …; charset=<no such codec>
        raise invalid_request("the body's charset is unknown; send UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise invalid_request('the body is a JSON object {"agent_id"}')
    agent_id = _agent_id(body.get("agent_id"))
    remembered = await request.app[LOOKUP].recall(call_id)
    if remembered is None:
        raise ApiError(404, "not_found", "no lookup was made for this call_id in the last 5 minutes")
    connected_at = request.app[SETTINGS].clock().isoformat()
    event = await request.app[SCREENPOP].publish(agent_id, call_id, orjson.loads(remembered), connected_at)
    return web.json_response(
        {"call_id": call_id, "agent_id": agent_id, "connected_at": event["connected_at"]}, status=202
    )


def _token_still_valid(request: web.Request) -> bool:
    """The stream's token is neither revoked nor expired (in-process cache, no store round trip)."""
    try:
        request.app[TOKENS].principal(request.headers.get("Authorization"), request.app[SETTINGS].clock())
    except ApiError:
        return False
    return True


async def get_agent_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for one agent: `call` when a call is connected to them (role agent).

    The stream lives only as long as its token: it ends within seconds of a revocation or
    the expiry (checked every second and before every event), so a revoked token receives
    no further screen pops. A1: a registered agent's stream needs that agent's own token."""
    require(request, "agent")
    agent_id = _agent_id(request.match_info["agent_id"], "agent_id")
    require_agent(request, agent_id, registered=await request.app[AGENTS].registered(agent_id))
    hub = request.app[SCREENPOP]
    queue = hub.subscribe(agent_id)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    loop = asyncio.get_running_loop()
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        keepalive_at = loop.time() + KEEPALIVE_SECONDS
        while True:
            try:
                payload: bytes | None = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                payload = None
            if not _token_still_valid(request):
                break  # the widget reconnects, gets 401 and asks the agent to sign in again
            if payload is not None:
                await response.write(sse("call", payload, str(now_ms())))
            elif loop.time() >= keepalive_at:
                await response.write(b": keepalive\n\n")
            else:
                continue
            keepalive_at = loop.time() + KEEPALIVE_SECONDS
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(agent_id, queue)
    return response


async def get_agent_calls(request: web.Request) -> web.Response:
    """The agent's last calls, newest first (the widget's short history; A1: own calls only)."""
    require(request, "agent")
    agent_id = _agent_id(request.match_info["agent_id"], "agent_id")
    require_agent(request, agent_id, registered=await request.app[AGENTS].registered(agent_id))
    items = await request.app[SCREENPOP].history(agent_id)
    return web.Response(body=orjson.dumps({"items": items}), content_type="application/json")


CALL_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["call_id", "agent_id", "connected_at", "answer"],
    "properties": {
        "call_id": {"type": "string"},
        "agent_id": {"type": "string"},
        "connected_at": {"type": "string", "format": "date-time"},
        "answer": ANSWER_SCHEMA,
    },
}


def setup(app: web.Application) -> None:
    """Register the routes and document them."""
    app.router.add_post("/v1/calls/{call_id}/connected", post_connected)
    app.router.add_get("/v1/agents/{agent_id}/events", get_agent_events)
    app.router.add_get("/v1/agents/{agent_id}/calls", get_agent_calls)
    problems = {
        "400": openapi.problem("invalid_request"),
        "401": openapi.problem("unauthorized"),
        "403": openapi.problem("forbidden"),
    }
    openapi.register(
        "/v1/calls/{call_id}/connected",
        "post",
        {
            "summary": "The ACD connected the call to an agent: screen pop (role ivr)",
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["agent_id"],
                            "properties": {"agent_id": {"type": "string", "pattern": _AGENT_ID.pattern}},
                        }
                    }
                },
            },
            "responses": {
                "202": openapi.json_response("delivered to the agent's widgets", {"type": "object"}),
                **problems,
                "404": openapi.problem("no lookup was made for this call"),
            },
        },
    )
    openapi.register(
        "/v1/agents/{agent_id}/events",
        "get",
        {
            "summary": "Server-Sent Events: `call` with the answer when a call is connected (role agent)",
            "parameters": [
                {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **problems,
            },
        },
    )
    openapi.register(
        "/v1/agents/{agent_id}/calls",
        "get",
        {
            "summary": "The agent's last calls, newest first (role agent)",
            "parameters": [
                {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": openapi.json_response(
                    "recent calls",
                    {"type": "object", "properties": {"items": {"type": "array", "items": CALL_EVENT}}},
                ),
                **problems,
            },
        },
    )
