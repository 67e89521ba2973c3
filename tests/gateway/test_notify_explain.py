"""The SMS outbox sender against a real HTTP gateway; `callgate explain`; cache rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from redis.asyncio import Redis

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from gateway.services import cache, notify
from gateway.stores.queries import snapshot
from gateway.stores.record import Record, key_of
from tests.gateway import province

NUMBERS = ["18612340011", "18612340012", "18612340013"]


@pytest.fixture
async def sms_gateway() -> AsyncIterator[tuple[str, list[dict[str, object]], list[int]]]:
    """A real HTTP server standing in for the operator's SMS gateway; fails on demand."""
    received: list[dict[str, object]] = []
    failures = [0]

    async def accept(request: web.Request) -> web.Response:
        if failures[0] > 0:
            failures[0] -= 1
            return web.Response(status=503)
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started TCP site
    yield f"http://127.0.0.1:{port}/sms", received, failures
    await runner.cleanup()


async def queue_messages(conn: asyncpg.Connection) -> None:
    await province.branches(conn)
    for n in NUMBERS:
        await province.subscriber(conn, n)
        await conn.execute(
            "INSERT INTO notifications (msisdn, kind, month, body) VALUES ($1, 'tier', '2026-11-01', '您的星级')",
            n,
        )


async def test_outbox_is_delivered_and_marked_sent(
    conn: asyncpg.Connection, sms_gateway: tuple[str, list[dict[str, object]], list[int]]
) -> None:
    url, received, failures = sms_gateway
    await queue_messages(conn)
    failures[0] = 1  # the first POST fails: retried within the run
    summary = await notify.deliver(conn, url, backoff=0.01)
    assert (summary.sent, summary.failed, summary.pending) == (3, 0, 0)
    assert sorted(str(m["to"]) for m in received) == NUMBERS
    assert await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'") == 3
    again = await notify.deliver(conn, url)
    assert again.sent == 0 and len(received) == 3  # nothing is sent twice


async def test_gateway_down_leaves_messages_pending_then_failed(
    conn: asyncpg.Connection, sms_gateway: tuple[str, list[dict[str, object]], list[int]]
) -> None:
    url, received, failures = sms_gateway
    await queue_messages(conn)
    failures[0] = 10_000
    for _ in range(notify.MAX_ATTEMPTS - 1):
        summary = await notify.deliver(conn, url, backoff=0.0)
        assert summary.sent == 0 and summary.pending == 3
    summary = await notify.deliver(conn, url, backoff=0.0)
    assert summary.failed == 3 and summary.pending == 0
    assert received == []
    errors = await conn.fetch("SELECT status, attempts, last_error FROM notifications")
    assert {(r["status"], r["attempts"], r["last_error"]) for r in errors} == {("failed", 5, "HTTP 503")}


async def test_without_a_gateway_url_nothing_is_sent(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    await queue_messages(conn)
    env = {
        **os.environ,
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path),
    }
    env.pop("CALLGATE_SMS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "notify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "3 SMS notifications pending; set CALLGATE_SMS_URL" in result.stdout
    assert await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'") == 3


async def test_explain_prints_why_and_what_next(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    await province.branches(conn)
    await province.subscriber(conn, NUMBERS[0])
    await province.bills(conn, NUMBERS[0], "2025-10", "2026-10", 100)
    policy = load_policy("unicom-2015")
    await evaluation.run(
        conn,
        policy,
        Month.parse("2026-10"),
        date(2026, 11, 26),
        dsn=database_url,
        redis_url=None,
        workers=1,
        show_progress=False,
    )
    env = {
        **os.environ, "CALLGATE_DATABASE_URL": database_url, "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path), "CALLGATE_NOW": "2026-11-26T10:00:00+08:00",
    }  # fmt: skip
    zh = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "explain", "+86" + NUMBERS[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert zh.returncode == 0, zh.stderr
    assert "186****0011" in zh.stdout and NUMBERS[0] not in zh.stdout
    assert "四星" in zh.stdout  # ARPU 100 × tenure score 1.4 = 140: four-star (T1.7)
    en = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "explain", NUMBERS[0], "--lang", "en"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "four-star" in en.stdout.lower() and "T1.4" in en.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "explain", "13912345678"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 1 and "not a subscriber" in unknown.stderr


async def test_cache_rebuild_restores_every_record(conn: asyncpg.Connection, redis_url: str) -> None:
    await province.branches(conn)
    for n in NUMBERS:
        await province.subscriber(conn, n)
        await province.bills(conn, n, "2025-10", "2026-10", 300)
    await province.subscriber(conn, "18612340019", status="cancelled")
    policy = load_policy("unicom-2015")
    redis = Redis.from_url(redis_url)
    await redis.hset(*key_of("18612340019"), b"stale")
    summary = await cache.rebuild(conn, redis, policy, date(2026, 11, 26), show_progress=False)
    assert (summary.written, summary.deleted) == (3, 1)
    assert await redis.hexists(*key_of("18612340019")) is False
    for n in NUMBERS:
        snap = await snapshot.load_one(conn, n)
        assert snap is not None
        raw = await redis.hget(*key_of(n))
        assert isinstance(raw, bytes)
        assert Record.decode(raw) == cache.record_for(snap, policy, date(2026, 11, 26))
    await redis.aclose()
