"""Liveness, readiness, metrics and the OpenAPI document (no token needed)."""

from __future__ import annotations

import asyncio
import os

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from gateway.http.keys import METRICS, PG, POLICY, REDIS
from gateway.http.openapi import document
from gateway.services.policies import describe
from gateway.stores import migrations

READY_TIMEOUT = 1.0


async def get_healthz(request: web.Request) -> web.Response:
    """The process is alive."""
    return web.json_response({"status": "ok"})


async def get_readyz(request: web.Request) -> web.Response:
    """Both stores answer and the schema is current; 503 with the reasons otherwise."""
    problems: list[str] = []
    try:
        async with request.app[PG].acquire(timeout=READY_TIMEOUT) as conn:
            todo = await asyncio.wait_for(migrations.pending(conn), READY_TIMEOUT)  # type: ignore[arg-type]  # pool proxy is a Connection at run time
            if todo:
                problems.append(f"migrations pending: {', '.join(m.version for m in todo)}")
    except migrations.MigrationError as exc:
        problems.append(str(exc))
    except Exception as exc:  # readiness reports any failure of the store as a reason
        problems.append(f"postgresql: {type(exc).__name__}")
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), READY_TIMEOUT)
    except Exception as exc:  # readiness reports any failure of the store as a reason
        problems.append(f"redis: {type(exc).__name__}")
    policy = describe(request.app[POLICY].state)  # O2: which policy and override file serve
    if problems:
        return web.json_response(
            {"status": "unavailable", "problems": problems, "policy": policy}, status=503
        )
    return web.json_response({"status": "ready", "policy": policy})


async def get_metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (summed over worker processes when there are several)."""
    request.app[METRICS].fold()  # this process's tallies, up to now
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        body = generate_latest(registry)
    else:
        body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of every route."""
    return web.Response(body=orjson.dumps(document()), content_type="application/json")


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/healthz", get_healthz)
    app.router.add_get("/readyz", get_readyz)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/openapi.json", get_openapi)
