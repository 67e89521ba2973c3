"""Small reads the agent page needs: who a token is (`GET /v1/me`, to choose the agent or
the branch view and the work-order actions to offer) and the branch tree
(`GET /v1/branches`, to name branches and to pick the county of a dispatch, W2)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from entitlements.workorders import EVENTS, events_allowed
from gateway.http import inputs
from gateway.http.auth import PRINCIPAL, require
from gateway.http.keys import PG, POLICY
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import invalid_request
from gateway.stores.queries import branches, workorders
from gateway.stores.queries.workorders import Branch

_BRANCH_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # as branches.code is checked in SQL


def branch_json(found: Branch) -> dict[str, Any]:
    """The public shape of a branch."""
    return {"code": found.code, "name": found.name, "level": found.level, "parent_code": found.parent_code}


async def get_me(request: web.Request) -> web.Response:
    """The caller's role, actor label, branch and the work-order events it may record."""
    principal = request[PRINCIPAL]
    branch = None
    if principal.branch_code is not None:
        async with request.app[PG].acquire() as conn:
            branch = await workorders.branch(conn, principal.branch_code)
    if principal.role == "admin":
        events = list(EVENTS)
    elif principal.role == "branch" and branch is not None:
        allowed = events_allowed(request.app[POLICY].current, branch.level)  # W5, policy data
        events = [e for e in EVENTS if e in allowed]
    else:
        events = []
    return inputs.json(
        {
            "role": principal.role,
            "name": principal.name,
            "actor": principal.actor,
            "expires_at": principal.expires_at.isoformat() if principal.expires_at else None,
            "branch": branch_json(branch) if branch is not None else None,
            "work_order_events": events,
            "agent_id": principal.agent_id,  # A1: the agent a bound token belongs to
        }
    )


async def list_branches(request: web.Request) -> web.Response:
    """Every branch, or the children of `?parent=` (a city's counties), by code."""
    require(request, "agent", "branch")
    parent = request.query.get("parent", "").strip() or None
    if parent is not None and not _BRANCH_CODE.match(parent):
        raise invalid_request("parent must be a branch code (1–32 letters, digits, _ or -)", "parent")
    async with request.app[PG].acquire() as conn:
        found = await branches.listing(conn, parent)
    return inputs.json({"items": [branch_json(b) for b in found]})


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/v1/me", get_me)
    app.router.add_get("/v1/branches", list_branches)


BRANCH = {
    "type": "object",
    "required": ["code", "name", "level", "parent_code"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "level": {"enum": ["province", "city", "county"]},
        "parent_code": {"type": ["string", "null"]},
    },
}
register(
    "/v1/me",
    "get",
    {
        "summary": "Who this token is: role, actor, branch, the work-order events it may record (any role)",
        "responses": {
            "200": json_response(
                "the caller",
                {
                    "type": "object",
                    "required": ["role", "actor", "branch", "work_order_events"],
                    "properties": {
                        "role": {"enum": ["ivr", "agent", "branch", "admin"]},
                        "name": {"type": "string"},
                        "actor": {"type": "string"},
                        "expires_at": {"type": ["string", "null"], "format": "date-time"},
                        "branch": {"oneOf": [BRANCH, {"type": "null"}]},
                        "work_order_events": {"type": "array", "items": {"enum": list(EVENTS)}},
                        "agent_id": {"type": ["string", "null"]},
                    },
                },
            ),
            "401": problem("unauthorized"),
        },
    },
)
register(
    "/v1/branches",
    "get",
    {
        "summary": "The branch tree, or the children of ?parent= (roles agent, branch)",
        "parameters": [
            {
                "name": "parent",
                "in": "query",
                "schema": {"type": "string", "pattern": _BRANCH_CODE.pattern},
                "description": "a branch code: only its children (a city's counties)",
            }
        ],
        "responses": {
            "200": json_response(
                "branches by code",
                {
                    "type": "object",
                    "required": ["items"],
                    "properties": {"items": {"type": "array", "items": BRANCH}},
                },
            ),
            "400": problem("invalid_request"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role ivr)"),
        },
    },
)
