"""The OpenAPI 3.1 document; a test keeps it in step with the registered routes."""

from __future__ import annotations

from functools import cache
from typing import Any

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPEN = {"type": "object"}
PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": {
            "summary": "Liveness",
            "security": [],
            "responses": {"200": _json("alive", OPEN)},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: both stores answer and migrations are current",
            "security": [],
            "responses": {
                "200": _json("ready", OPEN),
                "503": _json("not ready, with reasons", OPEN),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "security": [],
            "responses": {
                "200": {
                    "description": "text exposition",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": _json("OpenAPI 3.1", OPEN)},
        }
    },
}


def register(path: str, method: str, operation: dict[str, Any]) -> None:
    """Add an operation (called by route modules at import)."""
    PATHS.setdefault(path, {})[method.lower()] = operation
    document.cache_clear()


@cache
def document() -> dict[str, Any]:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callgate",
            "version": "1",
            "description": "Routing and entitlement gateway for a telecom customer hotline.",
        },
        "components": {
            "schemas": {"Problem": PROBLEM},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
    }


def problem(description: str) -> dict[str, Any]:
    """A problem+json response entry."""
    return _problem(description)


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON response entry."""
    return _json(description, schema)
