"""O2, hot reload in one process: `POST /v1/admin/policy/reload` re-reads the provincial
override; per-call values change at once; an invalid file keeps the policy in force and
answers 400 with each fault's key path; lookups racing reloads never mix two policies.
(The two-worker server and SIGHUP: tests/gateway/test_policy_reload_serve.py.)"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.http.keys import POLICY, RELOADS
from gateway.settings import Settings
from tests.conftest import LOG_FILE
from tests.gateway.lookup_support import FIVE, SUSPENDED_GOLD, evaluated_province

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]

# Policy A: the national file as it is. Policy B changes three per-call values of a four-star
# (gold terms) caller at once: the queue priority (Q2), a benefit (E) and the credit (R4).
OVERRIDE_A = 'name = "unicom-2015"\n'
OVERRIDE_B = """name = "unicom-2015"
[routing.star]
loyal = { queue = "vip", priority = 25 }
four_star = { queue = "vip", priority = 25 }
[benefits.star.birthday_greeting]
four_star = "no"
[reactivation.terms.gold]
credit_yuan = "120.00"
"""
INVALID = """name = "unicom-2015"
[routing.star]
four_star = { queue = "vip", priority = 99 }
[sms]
hotline = "ten-ten"
[work_orders]
colour = "red"
"""
A = (20, True, "100.00")
B = (25, False, "120.00")


def per_call(body: dict[str, Any]) -> tuple[int, bool, str]:
    """(queue priority, has the birthday greeting, credit limit) of a lookup answer."""
    return (
        body["queue"]["priority"],
        "birthday_greeting" in body["entitlements"],
        body["reactivation"]["credit_limit_yuan"],
    )


@pytest.fixture
async def reloadable(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
) -> tuple[TestClient[Any, Any], dict[str, str], Path]:
    tokens = await evaluated_province(conn, database_url)
    override = tmp_path / "province.toml"
    override.write_text(OVERRIDE_A, encoding="utf-8")
    client = await aiohttp_client(create_app(dataclasses.replace(settings, policy_override=override)))
    return client, tokens, override


async def lookup(client: TestClient[Any, Any], tokens: dict[str, str], msisdn: str) -> dict[str, Any]:
    response = await client.get(
        "/v1/ivr/lookup", params={"ani": msisdn}, headers={"Authorization": f"Bearer {tokens['ivr']}"}
    )
    assert response.status == 200
    return dict(await response.json())


async def reload(client: TestClient[Any, Any], tokens: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/v1/admin/policy/reload", headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    return response.status, dict(await response.json())


async def test_a_reload_changes_per_call_values_at_once(
    reloadable: tuple[TestClient[Any, Any], dict[str, str], Path],
) -> None:
    # rule O2: a queue priority, a benefit and reactivation terms change without a restart
    client, tokens, override = reloadable
    assert per_call(await lookup(client, tokens, SUSPENDED_GOLD)) == A
    override.write_text(OVERRIDE_B, encoding="utf-8")
    status, body = await reload(client, tokens)
    sha = hashlib.sha256(OVERRIDE_B.encode()).hexdigest()
    assert status == 200 and body["reloaded"] is True
    assert body["policy"] == {
        "name": "unicom-2015",
        "version": "2015.1+province",
        "override": str(override),
        "override_sha256": sha,
        "loaded_at": "2026-11-26T10:00:00+08:00",  # the pinned clock
    }
    assert body["workers"] == {"total": 1, "confirmed": 1, "pending": [], "all": True}
    answer = await lookup(client, tokens, SUSPENDED_GOLD)
    assert per_call(answer) == B
    # rule O2: tiers change only through an evaluation
    assert answer["tier"]["level"] == "four_star"
    # the same bytes again: nothing to swap
    status, body = await reload(client, tokens)
    assert (status, body["reloaded"], body["reason"]) == (200, False, "the file is unchanged")
    # GET /v1/policy and /readyz name the policy, version and the override's SHA-256
    response = await client.get("/v1/policy", headers={"Authorization": f"Bearer {tokens['admin']}"})
    shown = await response.json()
    assert (shown["name"], shown["version"], shown["override_sha256"]) == (
        "unicom-2015",
        "2015.1+province",
        sha,
    )
    assert shown["generation"] == 1 and shown["workers"] is None
    ready = await (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["policy"]["override_sha256"] == sha


async def test_an_invalid_override_keeps_the_policy_and_lists_each_fault(
    reloadable: tuple[TestClient[Any, Any], dict[str, str], Path],
) -> None:
    # rule O2: 400 with each error's key path; the old priority still serves; the log says so
    client, tokens, override = reloadable
    before = await lookup(client, tokens, SUSPENDED_GOLD)
    override.write_text(INVALID, encoding="utf-8")
    status, body = await reload(client, tokens)
    assert status == 400 and body["code"] == "invalid_override"
    assert [(e["file"], e["key"]) for e in body["errors"]] == [
        (str(override), "routing.star"),
        (str(override), "work_orders.colour"),
        (str(override), "sms.hotline"),
    ]
    assert body["errors"][1]["problem"] == "unknown key"
    assert "the policy in force is kept: unicom-2015 2015.1+province" in body["detail"]
    assert body["policy"]["override_sha256"] == hashlib.sha256(OVERRIDE_A.encode()).hexdigest()
    assert per_call(await lookup(client, tokens, SUSPENDED_GOLD)) == per_call(before) == A
    assert client.app[POLICY].generation == 0
    logged = [
        json.loads(line) for line in LOG_FILE.read_text("utf-8").splitlines() if "policy_reload" in line
    ]
    rejected = [line for line in logged if line["event"] == "policy_reload_rejected"][-1]
    assert rejected["level"] == "warning" and rejected["trigger"] == "http"
    assert any("sms.hotline" in error for error in rejected["errors"])


async def test_a_reload_is_admin_only(reloadable: tuple[TestClient[Any, Any], dict[str, str], Path]) -> None:
    client, tokens, _ = reloadable
    for path, method in (("/v1/admin/policy/reload", "POST"), ("/v1/policy", "GET")):
        response = await client.request(method, path, headers={"Authorization": f"Bearer {tokens['ivr']}"})
        assert response.status == 403


async def test_with_no_override_a_reload_is_a_logged_no_op(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, database_url: str
) -> None:
    # rule O2: SIGHUP (and the HTTP reload) with no override configured change nothing
    tokens = await evaluated_province(conn, database_url)
    app = create_app(settings)
    client = await aiohttp_client(app)
    status, body = await reload(client, tokens)
    assert (status, body["reloaded"]) == (200, False)
    assert body["reason"] == "no override configured (CALLGATE_POLICY_OVERRIDE is unset)"
    assert "workers" not in body
    app[RELOADS].hangup()  # what the SIGHUP handler calls
    await asyncio.sleep(0.05)
    assert app[POLICY].generation == 0
    skipped = [line for line in LOG_FILE.read_text("utf-8").splitlines() if "policy_reload_skipped" in line]
    assert any('"trigger":"sighup"' in line for line in skipped)


async def test_lookups_racing_reloads_never_mix_two_policies(
    reloadable: tuple[TestClient[Any, Any], dict[str, str], Path],
) -> None:
    # rule O2: one atomic swap per process — every answer is wholly policy A or wholly policy B
    client, tokens, override = reloadable
    seen: list[tuple[int, bool, str]] = []
    done = asyncio.Event()

    degraded = 0

    async def caller() -> None:
        nonlocal degraded
        while not done.is_set():
            for msisdn in (SUSPENDED_GOLD, FIVE):
                body = await lookup(client, tokens, msisdn)
                if body["degraded"]:  # Q4: past its budget on this busy loop, the default route
                    degraded += 1
                elif msisdn == SUSPENDED_GOLD:
                    seen.append(per_call(body))

    async def reloader() -> None:
        for i in range(40):
            override.write_text(OVERRIDE_B if i % 2 == 0 else OVERRIDE_A, encoding="utf-8")
            status, _ = await reload(client, tokens)
            assert status == 200
            # a few answers between two reloads however slow the machine is (not a fixed sleep)
            before = len(seen)
            for _ in range(2000):
                if len(seen) >= before + 3:
                    break
                await asyncio.sleep(0.005)
        done.set()

    await asyncio.gather(reloader(), *(caller() for _ in range(8)))
    assert set(seen) == {A, B}  # both policies served, never a mixture
    assert len(seen) > 80 and len(seen) > degraded and client.app[POLICY].generation == 40
