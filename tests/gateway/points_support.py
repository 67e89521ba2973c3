"""Helpers for the loyalty tests: points files imported the way `callgate import points`
does, the points a fresh PostgreSQL read gives, and the lookup's points."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from entitlements.policy import Policy, load_policy
from gateway.metrics import Metrics
from gateway.services import points
from gateway.services.points import PointsImport
from tests.gateway.grants import bearer

HEADER = "msisdn,granted_on,points,source,expires_on"
POLICY = load_policy("unicom-2015")


def points_file(tmp_path: Path, rows: list[str], name: str = "points.csv") -> Path:
    """A points CSV with the header and these rows."""
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def import_points(
    conn: asyncpg.Connection,
    redis_url: str,
    tmp_path: Path,
    rows: list[str],
    today: date,
    *,
    name: str = "points.csv",
    policy: Policy = POLICY,
) -> PointsImport:
    """Import rows as `callgate import points` does (the cache follows)."""
    redis = Redis.from_url(redis_url)
    try:
        return await points.import_points(
            conn, redis, Metrics(), policy, points_file(tmp_path, rows, name), today, show_progress=False
        )
    finally:
        await redis.aclose()


async def db_points(conn: asyncpg.Connection, msisdn: str, today: date) -> dict[str, int] | None:
    """The lookup's `points` as a fresh PostgreSQL read gives them (P3)."""
    found = await points.summary_of(conn, POLICY, msisdn, today)
    return None if found is None else found.lookup_json()


async def lookup(
    client: TestClient[Any, Any], token: str, msisdn: str, call_id: str | None = None
) -> dict[str, Any]:
    """GET /v1/ivr/lookup for a number; the JSON answer."""
    params = {"ani": msisdn, **({"call_id": call_id} if call_id else {})}
    response = await client.get("/v1/ivr/lookup", params=params, headers=bearer(token))
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def cached_lookup(client: TestClient[Any, Any], token: str, msisdn: str) -> dict[str, Any]:
    """The lookup once it is answered from the cache (a miss's fill lands in the background)."""
    for _ in range(200):
        body = await lookup(client, token, msisdn)
        if body["source"] == "cache":
            return body
        await asyncio.sleep(0.01)
    raise AssertionError("the lookup never came from the cache")


def redemption_body(
    item: str = "topup_30",
    *,
    channel: str = "agent",
    method: str = "own_number",
    password: str | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """A POST …/points/redemptions body."""
    verification: dict[str, Any] = {"method": method}
    if password is not None:
        verification["password"] = password
    body: dict[str, Any] = {"item": item, "channel": channel, "verification": verification}
    if call_id is not None:
        body["call_id"] = call_id
    return body


async def redeem(
    client: TestClient[Any, Any], token: str, msisdn: str, key: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a redemption; (status, JSON body)."""
    response = await client.post(
        f"/v1/subscribers/{msisdn}/points/redemptions",
        json=body if body is not None else redemption_body(),
        headers={**bearer(token), "Idempotency-Key": key},
    )
    return response.status, await response.json(content_type=None)
