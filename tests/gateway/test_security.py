"""Security and contract checks that span every route: rate limits, the OpenAPI
document in step with the router, no SQL built from untrusted strings."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.http.openapi import document
from gateway.services.tokens import create_token
from gateway.settings import Settings
from tests.gateway import province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
ROOT = Path(__file__).resolve().parents[2]


async def test_people_are_rate_limited_but_the_lookup_is_not(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection
) -> None:
    await province.branches(conn)
    _, agent = await create_token(conn, "agent")
    _, ivr = await create_token(conn, "ivr")
    client = await aiohttp_client(
        create_app(dataclasses.replace(settings, rate_limit=2, machine_rate_limit=1000))
    )
    statuses = [
        (await client.get("/v1/calls/some-call", headers={"Authorization": f"Bearer {agent}"})).status
        for _ in range(15)
    ]
    assert statuses[:10] == [404] * 10  # burst of 5 × rate
    limited = await client.get("/v1/calls/some-call", headers={"Authorization": f"Bearer {agent}"})
    assert limited.status == 429
    body = await limited.json()
    assert body["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    lookups = [
        (
            await client.get(
                "/v1/ivr/lookup", params={"ani": "anonymous"}, headers={"Authorization": f"Bearer {ivr}"}
            )
        ).status
        for _ in range(40)
    ]
    assert lookups == [200] * 40  # the IVR has its own, much higher budget


async def test_openapi_documents_exactly_the_registered_routes(
    aiohttp_client: ClientFactory, settings: Settings
) -> None:
    app = create_app(settings)
    registered = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if (
            route.method in ("HEAD", "OPTIONS")
            or path is None
            or str(path).startswith(("/agent", "/wallboard"))
        ):
            continue
        registered.add((str(path), route.method.lower()))
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert registered == documented
    client = await aiohttp_client(app)
    served = await (await client.get("/openapi.json")).json()
    assert served["openapi"].startswith("3.1") and set(served["paths"]) == {p for p, _ in documented}


def test_no_sql_is_built_from_strings_outside_reviewed_constants() -> None:
    # ruff's S608 flags SQL assembled with f-strings, % or .format; the only exceptions are
    # constant fragments, each marked with a noqa for S608 followed by " - <why>".
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "S608", "--no-cache", "gateway", "ivr", "entitlements"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    unexplained = []
    for path in (ROOT / "gateway").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "noqa: S608" in line and not re.search(r"noqa: S608 - \S", line):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}")
    assert unexplained == []
