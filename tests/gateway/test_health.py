"""Health, readiness (with a store stopped and restarted), metrics, problem+json."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.settings import Settings
from gateway.stores import migrations
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]


async def test_healthz_and_metrics(aiohttp_client: ClientFactory, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/healthz")).status == 200
    text = await (await client.get("/metrics")).text()
    assert 'callgate_http_requests_total{route="/healthz",status="200"} 1.0' in text


async def test_unknown_token_is_a_problem(aiohttp_client: ClientFactory, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/v1/ivr/lookup?ani=18612345678", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["code"] == "unauthorized" and body["status"] == 401 and body["detail"]


async def test_readyz_follows_the_stores(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    redis = EmbeddedRedis(tmp_path / "redis", durable=False)
    dsn, url = pg.start(), redis.start()
    try:
        conn = await asyncpg.connect(dsn)
        await migrations.migrate(conn)
        await conn.close()
        settings = dataclasses.replace(Settings(), database_url=dsn, redis_url=url, data_dir=tmp_path)
        client = await aiohttp_client(create_app(settings))
        assert (await client.get("/readyz")).status == 200

        redis.stop()
        response = await client.get("/readyz")
        assert response.status == 503
        assert any(p.startswith("redis") for p in (await response.json())["problems"])

        pg.stop()
        problems = (await (await client.get("/readyz")).json())["problems"]
        assert any(p.startswith("postgresql") for p in problems)

        pg.start()
        redis.start()
        assert (await client.get("/readyz")).status == 200
    finally:
        redis.stop()
        pg.stop()
