"""The aiohttp application: `create_app(settings)` wires stores, middlewares and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from redis.asyncio import Redis

from entitlements.errors import EntitlementsError
from gateway.http.auth import PRINCIPAL, RequestView, TokenCache
from gateway.http.keys import (
    AGENTS,
    CREDIT,
    LOOKUP,
    METRICS,
    PG,
    POLICY,
    QUEUE,
    READS,
    REDIS,
    RELOADS,
    SCREENPOP,
    SETTINGS,
    TOKENS,
)
from gateway.http.problems import ApiError, from_domain_error, from_exception, problem_response
from gateway.http.ratelimit import Limits, RateLimiter
from gateway.http.routes import agent_page, health
from gateway.http.routes import agents as agent_routes
from gateway.http.routes import audit as audit_routes
from gateway.http.routes import calls as call_routes
from gateway.http.routes import credit as credit_routes
from gateway.http.routes import directory as directory_routes
from gateway.http.routes import lookup as lookup_routes
from gateway.http.routes import payments as payment_routes
from gateway.http.routes import points as points_routes
from gateway.http.routes import policy as policy_routes
from gateway.http.routes import queue as queue_routes
from gateway.http.routes import reactivations as reactivation_routes
from gateway.http.routes import servicing as servicing_routes
from gateway.http.routes import sms as sms_routes
from gateway.http.routes import subscribers as subscriber_routes
from gateway.http.routes import vip as vip_routes
from gateway.http.routes import workorders as workorder_routes
from gateway.logs import LOG_FAILURES, get_logger, mask_path, request_done
from gateway.metrics import Metrics
from gateway.services import credit, sweeper
from gateway.services.agents import AgentDirectory
from gateway.services.credit import CreditService
from gateway.services.lookup import LookupService
from gateway.services.policies import PolicyReloads, load_in_force
from gateway.services.queue import QueueService
from gateway.services.screenpop import ScreenPop
from gateway.settings import Settings
from gateway.stores import cluster, db
from gateway.stores.fastredis import PipelinedRedis
from gateway.stores.queries import snapshot
from gateway.stores.replica import ReadPools, open_replica

log = get_logger("http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PREFIXES = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/agent", "/wallboard")
LOOKUP_PATH = "/v1/ivr/lookup"
_ID_PREFIX = f"{uuid.uuid4().hex[:8]}-"  # per process; request ids are this plus a counter
_ids = itertools.count(1)
# A client's request id is kept only when it is short printable ASCII; anything else (raw bytes,
# control characters, 10 kB) is replaced by ours, which the response's X-Request-Id reports.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CALL_ID = re.compile(r"[\x21-\x7e]{1,128}")  # as the lookup accepts it; others are not bound
LIMITS = web.AppKey("limits", Limits)
MAX_BODY = 64 * 1024


def begin(request: RequestView) -> tuple[float, str, str | None]:
    """A request's start: its clock, its request id (the client's when well formed, else
    ours) and call id (as logged), bound to the log context of the request's task."""
    started = time.perf_counter()
    request_id = request.headers.get("X-Request-Id")
    if request_id is None or _REQUEST_ID.fullmatch(request_id) is None:
        request_id = f"{_ID_PREFIX}{next(_ids):x}"
    call_id = request.query.get("call_id")
    call_id = call_id[:64] if call_id and _CALL_ID.fullmatch(call_id) else None  # as logged
    structlog.contextvars.clear_contextvars()
    if call_id is not None:
        structlog.contextvars.bind_contextvars(request_id=request_id, call_id=call_id)
    else:
        structlog.contextvars.bind_contextvars(request_id=request_id)
    return started, request_id, call_id


async def admit(app: web.Application, request: RequestView) -> None:
    """The bearer token (401) and the token's rate limit (429) of a non-public request; the
    caller is kept on the request (PRINCIPAL) for the route's role check."""
    header, now, tokens = request.headers.get("Authorization"), app[SETTINGS].clock(), app[TOKENS]
    try:
        principal = tokens.principal(header, now)  # a token already known: no coroutine to run
    except ApiError as refused:
        principal = await tokens.principal_after_refresh(header, now, refused)
    limits = app[LIMITS]
    if request.path == LOOKUP_PATH:
        limiter = limits.lookup
    elif principal.role in ("ivr", "admin", "sms"):  # machines: the SMS centre too
        limiter = limits.machine
    else:
        limiter = limits.people
    wait = limiter.allow(principal.token_id)
    if wait:
        raise ApiError(
            429, "rate_limited", f"this token is over {limiter.rate:g} requests/s; retry shortly",
            headers={"Retry-After": str(max(1, round(wait)))},
        )  # fmt: skip
    request[PRINCIPAL] = principal


def problem_of(exc: Exception, route: str, metrics: Metrics) -> web.StreamResponse:
    """The problem+json answer for what a handler raised (a redirect is raised again): the
    one place unexpected errors become a 500, logged and counted. Call it in the except block."""
    if isinstance(exc, ApiError):
        return from_exception(exc)
    if isinstance(exc, EntitlementsError):  # domain errors: problems.status_of maps the code
        return from_domain_error(exc)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
            exc.status, "invalid_request"
        )
        return problem_response(exc.status, code, exc.reason or exc.text or "")
    log.exception("unexpected_error", route=route)  # called in the except block: the traceback is exc's
    metrics.unexpected.labels(route).inc()
    return problem_response(500, "internal_error", "unexpected error; it was logged")


def finish(
    request: web.BaseRequest,
    response: web.StreamResponse,
    metrics: Metrics,
    route: str,
    started: float,
    request_id: str,
    call_id: str | None,
) -> web.StreamResponse:
    """A request's end: X-Request-Id, then `account` for it."""
    response.headers["X-Request-Id"] = request_id
    path = mask_path(request.path)
    account(metrics, request.method, path, route, response.status, started, request_id, call_id)
    return response


def account(
    metrics: Metrics,
    method: str,
    path: str,
    route: str,
    status: int,
    started: float,
    request_id: str,
    call_id: str | None,
) -> None:
    """The route's metrics and the canonical log line of a request answered with `status`
    (``path``: as logged, numbers masked)."""
    elapsed = time.perf_counter() - started
    metrics.observe_request(route, status, elapsed)
    # The answer is decided (a write may have committed): nothing below may change it. The
    # logger drops and counts a line it cannot write; the except is for a logger that raises.
    try:
        request_done(method, path, route, status, round(elapsed * 1000, 3), request_id, call_id)
    except Exception:  # counted below with the logger's own failures
        LOG_FAILURES.add()
    if LOG_FAILURES.pending:
        metrics.unexpected.labels("logging").inc(LOG_FAILURES.take())


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, call id, authentication and rate limits, the canonical log line, route
    metrics and problem+json errors — for every request but the lookups the lane serves
    (`lane.LookupLane` does the same for them, from the connection's bytes)."""
    started, request_id, call_id = begin(request)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    app = request.app
    metrics = app[METRICS]
    try:
        if not request.path.startswith(PUBLIC_PREFIXES):
            await admit(app, request)
        response = await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        response = problem_of(exc, route, metrics)
    return finish(request, response, metrics, route, started, request_id, call_id)


def create_app(settings: Settings) -> web.Application:
    """The application for resolved settings (both store URLs set)."""
    if settings.database_url is None or settings.redis_url is None:
        raise ValueError("create_app needs resolved store URLs; start embedded stores first")
    app = web.Application(middlewares=[context_middleware], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[POLICY] = load_in_force(settings)  # the override's bytes read once, hashed (O2)
    app[RELOADS] = PolicyReloads(app[POLICY], settings)
    app[METRICS] = Metrics()
    app[LIMITS] = Limits(
        lookup=RateLimiter(settings.machine_rate_limit, settings.machine_rate_limit * 2),
        machine=RateLimiter(settings.machine_rate_limit, settings.machine_rate_limit * 2),
        people=RateLimiter(settings.rate_limit, settings.rate_limit * 5),
    )
    # Resources, in start order (stopped in reverse): one cleanup context each.
    app.cleanup_ctx.extend(
        [
            _pg_ctx,
            _redis_ctx,
            _tokens_ctx,
            _lookup_ctx,
            _screenpop_ctx,
            _credit_ctx,
            _sweeper_ctx,
            _policy_ctx,
            _queue_ctx,
            _replica_ctx,
            _metrics_ctx,
            _gc_ctx,
        ]
    )
    for routes in (
        health,
        lookup_routes,
        call_routes,
        reactivation_routes,
        credit_routes,
        payment_routes,
        subscriber_routes,
        workorder_routes,
        audit_routes,
        agent_page,
        directory_routes,
        policy_routes,
        points_routes,
        sms_routes,
        vip_routes,
        servicing_routes,
        agent_routes,
        queue_routes,
    ):
        routes.setup(app)
    return app


async def _pg_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url is not None
    pool = await db.create_pool(settings.database_url, min_size=8, max_size=40, warm=[snapshot.warm_single()])
    app[PG] = pool
    app[TOKENS] = TokenCache(pool)
    yield
    await pool.close()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url is not None
    client: Redis = cluster.client(  # X1: RedisCluster for a redis+cluster:// URL
        settings.redis_url,
        socket_timeout=1.0,
        socket_connect_timeout=0.5,
        max_connections=256,
        health_check_interval=0,
    )
    app[REDIS] = client
    yield
    await client.aclose()


async def _tokens_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the tokens at start, refresh them in the background."""
    cache = app[TOKENS]
    await cache.refresh()
    task = asyncio.create_task(cache.run())
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        # A refresh cut short by the shutdown (asyncpg may report the cancelled query as an
        # InternalClientError): nothing is left to keep.
        log.info("token_refresh_stopped", error=type(exc).__name__)


async def _lookup_ctx(app: web.Application) -> AsyncIterator[None]:
    """The LookupService and its background work."""
    settings = app[SETTINGS]
    # The lookup's own client: every call is already bounded by asyncio.timeout, so no
    # socket timeout (redis-py would wrap each read in a second timer).
    redis = cluster.client(settings.redis_url or "", socket_connect_timeout=0.5, max_connections=512)
    service = LookupService(settings, app[POLICY], app[PG], redis, app[METRICS])
    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        await service.load_managers()
    app[LOOKUP] = service
    task = asyncio.create_task(service.run_background())
    yield
    await _stop(task)
    await service.close()
    await redis.aclose()


async def _screenpop_ctx(app: web.Application) -> AsyncIterator[None]:
    """The ScreenPop hub and its Redis listener."""
    fast = PipelinedRedis(app[SETTINGS].redis_url or "", connections=1)
    hub = ScreenPop(app[REDIS], fast)
    app[SCREENPOP] = hub
    tasks = [asyncio.create_task(hub.listen()), asyncio.create_task(hub.run_flusher())]
    yield
    for task in tasks:
        await _stop(task)
    await hub.flush()
    await fast.close()


async def _credit_ctx(app: web.Application) -> AsyncIterator[None]:
    """The credit service; every journal reconciled at start-up, then periodically."""
    service = CreditService(app[REDIS], app[PG], app[METRICS])
    app[CREDIT] = service
    await credit.reconcile_at_start(service)
    task = asyncio.create_task(credit.reconcile_forever(service))
    yield
    await _stop(task)


async def _sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """The W4 overdue sweeper, every few seconds in the background."""
    task = asyncio.create_task(
        sweeper.sweep_forever(
            app[PG], app[REDIS], app[METRICS], lambda: app[POLICY].current, app[SETTINGS].clock
        )
    )
    yield
    await _stop(task)


async def _policy_ctx(app: web.Application) -> AsyncIterator[None]:
    """O2: this worker's policy announced to its fleet (serve --workers N) while it serves."""
    reloads = app[RELOADS]
    reloads.start()
    yield
    reloads.stop()


async def _queue_ctx(app: web.Application) -> AsyncIterator[None]:
    """A1/A4: the agents directory and the queue engine with its background figures."""
    settings = app[SETTINGS]
    directory = AgentDirectory(app[PG], settings.clock)
    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        await directory.refresh()
    app[AGENTS] = directory
    service = QueueService(settings, app[POLICY], app[PG], app[LOOKUP], directory, app[METRICS])
    app[QUEUE] = service
    tasks = [asyncio.create_task(directory.run()), asyncio.create_task(service.run_background())]
    yield
    for task in tasks:
        await _stop(task)
    with contextlib.suppress(Exception):  # best effort: the next process copies it anyway
        await service.flush_intervals()
    await service.close()


async def _replica_ctx(app: web.Application) -> AsyncIterator[None]:
    """X2: the read replica (CALLGATE_DATABASE_REPLICA_URL), handed to the services that read it."""
    url = app[SETTINGS].database_replica_url
    replica = await open_replica(url, warm=[snapshot.warm_single()]) if url else None
    reads = ReadPools(app[PG], replica, app[METRICS])
    app[READS] = app[LOOKUP].reads = app[QUEUE].reads = reads
    yield
    await reads.close()


async def _metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """The request and lookup tallies folded into the Prometheus metrics every second."""
    metrics = app[METRICS]

    async def fold_forever() -> None:
        while True:
            await asyncio.sleep(1.0)
            metrics.fold()

    task = asyncio.create_task(fold_forever())
    yield
    await _stop(task)
    metrics.fold()


async def _gc_ctx(app: web.Application) -> AsyncIterator[None]:
    """Everything made while starting (modules, policy, pools, caches) moved out of the
    collector's sight once started: a full collection then walks only what requests make,
    which keeps its pauses short on the lookup's path."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
