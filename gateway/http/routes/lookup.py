"""`GET /v1/ivr/lookup` (role ivr) and `GET /v1/calls/{call_id}` — the per-call answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http import inputs, openapi
from gateway.http.auth import RequestView, require
from gateway.http.keys import LOOKUP
from gateway.http.problems import ApiError, invalid_request
from gateway.http.views import ANSWER_SCHEMA
from gateway.numbers import InvalidNumber, is_withheld, normalise
from gateway.services.lookup import Answer, LookupService


def _kv_lines(fields: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for name, value in fields.items():
        label = f"{prefix}{name}"
        if isinstance(value, dict):
            lines.extend(_kv_lines(value, label + "."))
        elif isinstance(value, list):  # pairs (skill.relax) as 20:3,40:1
            lines.append(
                f"{label}={','.join(':'.join(map(str, v)) if isinstance(v, list) else str(v) for v in value)}"
            )
        elif value is None:
            lines.append(f"{label}=")
        elif isinstance(value, bool):
            lines.append(f"{label}={'1' if value else '0'}")
        else:
            lines.append(f"{label}={value}")
    return lines


JSON, KV = "application/json", "text/plain; charset=utf-8"


def _body_of(request: RequestView, answer: Answer) -> tuple[bytes, str]:
    accept = request.headers.get("Accept", "")
    if request.query.get("format") == "kv" or ("text/plain" in accept and "application/json" not in accept):
        return ("\n".join(_kv_lines(answer.fields)) + "\n").encode(), KV
    return answer.body, JSON


async def get_lookup(request: web.Request) -> web.Response:
    """Who is calling and which queue they belong in (Q1–Q4)."""
    body, content_type = await lookup_body(request, request.app[LOOKUP])
    return web.Response(body=body, headers={"Content-Type": content_type})


async def lookup_body(request: RequestView, service: LookupService) -> tuple[bytes, str]:
    """The lookup's answer to an admitted request, as its bytes and content type (JSON, or
    key=value lines for format=kv or an Accept of text/plain): what the route and the
    lookup's lane (`lane.LookupLane`, which has no app at hand) both send."""
    require(request, "ivr")
    query = request.query
    fmt = query.get("format")
    if fmt not in (None, "json", "kv"):
        raise invalid_request("format must be json or kv", "format")
    call_id = inputs.call_id(query.get("call_id"))
    ani = query.get("ani")
    if is_withheld(ani):
        answer = service.unknown_caller()
    else:
        assert ani is not None
        try:
            msisdn = normalise(ani)
        except InvalidNumber as exc:
            raise ApiError(
                400, "invalid_number", f"ani is not a valid Chinese phone number: {exc.reason}"
            ) from None
        answer = await service.lookup(msisdn)
    if call_id is not None:
        service.remember_call(call_id, answer)
    return _body_of(request, answer)


async def get_call(request: web.Request) -> web.Response:
    """The lookup answer given for a call (screen pop), kept a few minutes."""
    require(request, "ivr", "agent")
    call_id = inputs.call_id(request.match_info["call_id"])
    assert call_id is not None
    body = await request.app[LOOKUP].recall(call_id)
    if body is None:
        raise ApiError(404, "not_found", "no lookup answer is remembered for this call_id (kept 5 minutes)")
    return web.Response(body=body, content_type="application/json")


def setup(app: web.Application) -> None:
    """Register the routes and document them."""
    app.router.add_get("/v1/ivr/lookup", get_lookup)
    app.router.add_get("/v1/calls/{call_id}", get_call)
    openapi.register(
        "/v1/ivr/lookup",
        "get",
        {
            "summary": "The per-call answer: tier, queue, manager, benefits, reactivation (role ivr)",
            "parameters": [
                {
                    "name": "ani",
                    "in": "query",
                    "schema": {"type": "string", "maxLength": 32},
                    "description": "calling number (+86/0086 ok); anonymous/unknown/empty: unknown caller",
                },
                {"name": "dnis", "in": "query", "schema": {"type": "string", "maxLength": 32}},
                {
                    "name": "call_id",
                    "in": "query",
                    "schema": {"type": "string", "pattern": inputs.CALL_ID.pattern},
                },
                {"name": "format", "in": "query", "schema": {"enum": ["json", "kv"]}},
            ],
            "responses": {
                "200": {
                    "description": "the answer (text/plain key=value lines with format=kv)",
                    "content": {
                        "application/json": {"schema": ANSWER_SCHEMA},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                },
                "400": openapi.problem("invalid_number or invalid_request"),
                "401": openapi.problem("unauthorized"),
                "403": openapi.problem("forbidden"),
            },
        },
    )
    openapi.register(
        "/v1/calls/{call_id}",
        "get",
        {
            "summary": "The lookup answer remembered for a call (roles ivr, agent)",
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": openapi.json_response("the answer", ANSWER_SCHEMA),
                "400": openapi.problem("invalid_request"),
                "401": openapi.problem("unauthorized"),
                "403": openapi.problem("forbidden"),
                "404": openapi.problem("not_found"),
            },
        },
    )
