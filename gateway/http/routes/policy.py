"""GET /v1/policy and POST /v1/admin/policy/reload (O2) — the policy in force, and its hot
reload in every worker process. Admin only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import POLICY, RELOADS
from gateway.http.openapi import json_response, problem, register
from gateway.services.policies import describe


async def get_policy(request: web.Request) -> web.Response:
    """The policy this worker holds (name, version, override and its SHA-256), and every worker's."""
    require(request, "admin")
    holder = request.app[POLICY]
    state = holder.state
    fleet = request.app[RELOADS].fleet
    body: dict[str, Any] = {
        **describe(state),
        "generation": holder.generation,
        "effective_from": state.policy.effective_from.isoformat(),
        "files": list(state.policy.files),
        "workers": fleet.statuses() if fleet is not None else None,
    }
    return inputs.json(body)


async def reload_policy(request: web.Request) -> web.Response:
    """Re-read the override here, then in every other worker; 400 `invalid_override` keeps the policy."""
    require(request, "admin")
    reloads = request.app[RELOADS]
    outcome = await reloads.reload("http")  # PolicyRejected → 400 with each fault's key path
    body: dict[str, Any] = {"reloaded": outcome.changed, "policy": describe(outcome.state)}
    if outcome.reason:
        body["reason"] = outcome.reason
    if outcome.state.override is not None:
        body["workers"] = await reloads.propagate(outcome)
    return inputs.json(body)


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/v1/policy", get_policy)
    app.router.add_post("/v1/admin/policy/reload", reload_policy)


_REQUIRED = ["name", "version", "override", "override_sha256"]
_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string"},
    "version": {"type": "string"},
    "override": {"type": ["string", "null"]},
    "override_sha256": {"type": ["string", "null"]},
    "loaded_at": {"type": ["string", "null"], "format": "date-time"},
}
_POLICY = {"type": "object", "required": _REQUIRED, "properties": _PROPERTIES}
_WORKERS = {
    "type": "object",
    "required": ["total", "confirmed", "pending", "all"],
    "properties": {
        "total": {"type": "integer"},
        "confirmed": {"type": "integer"},
        "pending": {"type": "array", "items": {"type": "integer"}},
        "all": {"type": "boolean"},
        "told": {"type": "boolean"},
    },
}

register(
    "/v1/policy",
    "get",
    {
        "summary": "The policy in force (O2): name, version, the override file and its SHA-256",
        "responses": {
            "200": json_response(
                "the policy this worker holds, and every worker's status (null for a single process)",
                {
                    "type": "object",
                    "required": [*_REQUIRED, "generation"],
                    "properties": {
                        **_PROPERTIES,
                        "generation": {"type": "integer"},
                        "effective_from": {"type": "string", "format": "date"},
                        "files": {"type": "array", "items": {"type": "string"}},
                        "workers": {"type": ["array", "null"], "items": {"type": "object"}},
                    },
                },
            ),
            "401": problem("unauthorized"),
            "403": problem("forbidden (admin only)"),
        },
    },
)
register(
    "/v1/admin/policy/reload",
    "post",
    {
        "summary": "Re-read the provincial override in every worker (O2); per-call values change at once",
        "responses": {
            "200": json_response(
                "reloaded, or unchanged / no override configured (`reason`); `workers`: who holds the file",
                {
                    "type": "object",
                    "required": ["reloaded", "policy"],
                    "properties": {
                        "reloaded": {"type": "boolean"},
                        "reason": {"type": "string"},
                        "policy": _POLICY,
                        "workers": _WORKERS,
                    },
                },
            ),
            "400": problem(
                "invalid_override: `errors` lists each fault (file, key, problem); the policy is kept"
            ),
            "401": problem("unauthorized"),
            "403": problem("forbidden (admin only)"),
        },
    },
)
