"""Agents of the queue engine (A1, A4): an agent's view (star and state), its state, and
`next` — the call a free agent takes.

An agent token bound to an agent reaches only that agent; the ACD's ivr token (and admin)
may act for any agent (`gateway.http.auth.require_agent`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http import inputs, openapi
from gateway.http.auth import require_agent
from gateway.http.keys import AGENTS, QUEUE
from gateway.http.problems import ApiError
from gateway.services.agents import Agent
from gateway.services.queue import STATES


async def _agent(request: web.Request, *machines: str) -> Agent:
    """The path's agent, after the caller is checked against it (A1); 404 if not registered."""
    agent_id = inputs.agent_id(request.match_info["agent_id"])
    directory = request.app[AGENTS]
    found = await directory.find(agent_id)
    registered = found is not None or await directory.registered(agent_id)
    require_agent(request, agent_id, registered=registered, machines=machines)
    if found is None:
        raise ApiError(404, "unknown_agent", "no agent has this id (callgate import agents)")
    return found


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; an empty body is an empty object (every field is optional)."""
    if not request.can_read_body:
        return {}
    return await inputs.json_object(request)


async def get_agent(request: web.Request) -> web.Response:
    """The agent's view: name, desks, the star in force with its explanation (A2), the live state."""
    agent = await _agent(request, "ivr")
    state = await request.app[QUEUE].agent_state(agent)
    return inputs.json(
        {
            "id": agent.id,
            "name": agent.name,
            "branch_code": agent.branch_code,
            "desks": sorted(agent.desks),
            **agent.star_json(),
            **state,
        }
    )


async def put_state(request: web.Request) -> web.Response:
    """A4: the agent's state (available, busy, wrap_up, away, offline), reported by the agent or the ACD."""
    agent = await _agent(request, "ivr")
    body = await _body(request)
    state = inputs.choice(body, "state", STATES)
    assert state is not None
    answer = await request.app[QUEUE].set_state(agent, state, inputs.optional_instant(body, "at"))
    return inputs.json(answer)


async def post_next(request: web.Request) -> web.Response:
    """A4: the call this available agent takes now (200), or 204 when there is none it may take."""
    agent = await _agent(request, "ivr")
    body = await _body(request)
    chosen = await request.app[QUEUE].next_call(agent, inputs.optional_instant(body, "at"))
    if chosen is None:
        return web.Response(status=204)
    return inputs.json(chosen)


AT = {
    "type": "string",
    "format": "date-time",
    "description": "when it happened, as the ACD reports it (default now)",
}
PATH = [
    {
        "name": "agent_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": inputs.AGENT_ID.pattern},
    }
]
STATE = {
    "type": "object",
    "required": ["agent_id", "state", "previous_state", "since"],
    "properties": {
        "agent_id": {"type": "string"},
        "state": {"enum": list(STATES)},
        "previous_state": {"enum": list(STATES)},
        "since": {"type": "string", "format": "date-time"},
    },
}
NEXT = {
    "type": "object",
    "required": ["call_id", "ani", "desk", "waited_s"],
    "properties": {
        "call_id": {"type": "string"},
        "ani": {"type": ["string", "null"]},
        "desk": {"enum": ["vip", "general"]},
        "waited_s": {"type": "number"},
        "priority": {"type": "integer"},
        "min_agent_star": {"type": "integer"},
        "required_star": {"type": "integer"},
        "agent_star": {"type": "integer"},
        "score_s": {"type": "number"},
        "enqueued_at": {"type": "string", "format": "date-time"},
        "agent_id": {"type": "string"},
        "rules": {"type": "array", "items": {"type": "string"}},
    },
}
PROBLEMS = {
    "400": openapi.problem("invalid_request"),
    "401": openapi.problem("unauthorized"),
    "403": openapi.problem(
        "forbidden: another agent's token, or an unbound agent token for a registered agent"
    ),
    "404": openapi.problem("unknown_agent"),
    "503": openapi.problem(
        "queue_unavailable: Redis did not answer in the lookup budget; use the ACD's queue"
    ),
}


def setup(app: web.Application) -> None:
    """Register the routes and document them."""
    app.router.add_get("/v1/agents/{agent_id}", get_agent)
    app.router.add_put("/v1/agents/{agent_id}/state", put_state)
    app.router.add_post("/v1/agents/{agent_id}/next", post_next)
    openapi.register(
        "/v1/agents/{agent_id}",
        "get",
        {
            "summary": "The agent's view: desks, star with its explanation (A2), live state (own token, ivr)",
            "parameters": PATH,
            "responses": {
                "200": openapi.json_response(
                    "the agent", {"type": "object", "required": ["id", "star", "state"]}
                ),
                **PROBLEMS,
            },
        },
    )
    openapi.register(
        "/v1/agents/{agent_id}/state",
        "put",
        {
            "summary": "A4: report the agent's state (the agent's own token, or ivr)",
            "parameters": PATH,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["state"],
                            "properties": {"state": {"enum": list(STATES)}, "at": AT},
                        }
                    }
                },
            },
            "responses": {"200": openapi.json_response("the new state", STATE), **PROBLEMS},
        },
    )
    openapi.register(
        "/v1/agents/{agent_id}/next",
        "post",
        {
            "summary": "A4: the call this available agent takes now; it becomes busy (own token, or ivr)",
            "parameters": PATH,
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"type": "object", "properties": {"at": AT}}}},
            },
            "responses": {
                "200": openapi.json_response("the chosen call", NEXT),
                "204": {"description": "no waiting call the agent may take"},
                **PROBLEMS,
                "409": openapi.problem("agent_not_available: the agent is not available"),
            },
        },
    )
