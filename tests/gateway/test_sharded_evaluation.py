"""X4: `callgate evaluate --month M --shard I/N` — N hosts share a month. Two processes
running shards 1/2 and 2/2 at the same time write exactly what one run writes: the tier
history, the serving state, the SMS outbox and the H8 fulfilment orders; the month is
finished only when both are, and closed once."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.batch import demo
from gateway.stores import db
from gateway.stores.embedded import EmbeddedPostgres

TODAY = date(2026, 11, 26)
_second = itertools.count()


@pytest.fixture
async def second_database(pg_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """Another fresh, migrated database on the same server (the run to compare with)."""
    name = f"test_x4_{os.getpid()}_{next(_second)}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE callgate_template')
    finally:
        await admin.close()
    yield pg_server.dsn(name)
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _env(dsn: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CALLGATE_DATABASE_URL": dsn,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path),
        "CALLGATE_NOW": "2026-11-26T10:00:00+08:00",
    }


def _evaluate(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "evaluate", "--month", "2026-11", "--batch", "97", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _written(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a month's run writes, without ids and creation times."""
    conn = await db.connect(dsn)
    try:
        queries = {
            "tier_assignments": """SELECT msisdn, policy, evaluated_month, policy_version, scheme, level,
                                          previous_level, computed_level, change, effective_from,
                                          valid_until, since, source
                                   FROM tier_assignments ORDER BY msisdn, policy, evaluated_month""",
            "tier_explanations": """SELECT msisdn, policy, evaluated_month, explanation::text
                                    FROM tier_explanations ORDER BY msisdn, policy, evaluated_month""",
            "tier_serving": "SELECT * FROM tier_serving ORDER BY msisdn, policy, evaluated_month",
            "notifications": "SELECT msisdn, kind, month, body, status FROM notifications ORDER BY msisdn, kind",
            "work_orders": """SELECT msisdn, kind, month, status, city_code, county_code, manager_id, due_at
                              FROM work_orders ORDER BY msisdn, kind""",
        }
        return {name: [tuple(r.values()) for r in await conn.fetch(sql)] for name, sql in queries.items()}
    finally:
        await conn.close()


async def test_two_shards_as_two_processes_write_exactly_what_one_run_writes(
    conn: asyncpg.Connection, database_url: str, second_database: str, redis_url: str, tmp_path: Path
) -> None:
    # rule X4
    await demo.load(conn, 1200, seed=5, today=TODAY, show_progress=False)
    other = await db.connect(second_database)
    try:
        await demo.load(other, 1200, seed=5, today=TODAY, show_progress=False)
    finally:
        await other.close()

    single = _evaluate(_env(database_url, redis_url, tmp_path), "--workers", "2")
    _, err = single.communicate(timeout=300)
    assert single.returncode == 0, err

    env = _env(second_database, redis_url, tmp_path)
    first, second = _evaluate(env, "--shard", "1/2", "--workers", "2"), _evaluate(env, "--shard", "2/2")
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [e for _, e in results]

    one, shared = await _written(database_url), await _written(second_database)
    assert len(one["tier_assignments"]) > 1200 and one["notifications"] and one["work_orders"]
    for table in one:
        assert shared[table] == one[table], table
    check = await db.connect(second_database)
    try:
        run = await check.fetchrow("SELECT hosts, finished_at FROM evaluation_runs")
        shards = await check.fetch("SELECT host, finished FROM evaluation_shards ORDER BY shard")
    finally:
        await check.close()
    assert run is not None and run["hosts"] == 2 and run["finished_at"] is not None
    assert {r["host"] for r in shards} == {1, 2} and all(r["finished"] for r in shards)
    # the month was closed by exactly one of the two: the one that finished last
    closing = [out for out, _ in results if "finished last: the month is done" in out]
    assert len(closing) == 1, [out for out, _ in results]
    waiting = [out for out, _ in results if "the month is finished when every shard is" in out]
    assert len(waiting) == 1


async def test_a_month_started_for_two_hosts_refuses_a_different_split(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # rule X4: the layout is fixed when the run starts; each shard resumes its own ranges
    await demo.load(conn, 300, seed=6, today=TODAY, show_progress=False)
    env = _env(database_url, redis_url, tmp_path)
    first = _evaluate(env, "--shard", "1/2", "--workers", "1")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert "shard 1/2 done; the month is finished when every shard is (still evaluating: 2/2)" in out
    assert await conn.fetchval("SELECT finished_at FROM evaluation_runs") is None
    assert await conn.fetchval("SELECT count(*) FROM work_orders") == 0  # closing steps wait for 2/2

    alone = _evaluate(env)
    out, err = alone.communicate(timeout=300)
    assert alone.returncode != 0
    assert "was started for 2 host(s): run it with --shard I/2" in err

    last = _evaluate(env, "--shard", "2/2")
    out, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    assert "finished last: the month is done" in out
    assert await conn.fetchval("SELECT finished_at FROM evaluation_runs") is not None
    evaluated = await conn.fetchval(
        "SELECT count(DISTINCT msisdn) FROM tier_assignments WHERE source = 'evaluation'"
    )
    assert evaluated == 300


def test_shard_with_dry_run_is_refused_clearly(database_url: str, redis_url: str, tmp_path: Path) -> None:
    # rule X4 rule O1
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "evaluate", "--month", "2026-11", "--dry-run",
         "--shard", "1/2", "--vip-calls-per-hour", "10"],
        env=_env(database_url, redis_url, tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--shard goes with a real run" in result.stderr


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_malformed_shard_is_refused(text: str, database_url: str, redis_url: str, tmp_path: Path) -> None:
    # rule X4
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "evaluate", "--month", "2026-11", "--shard", text],
        env=_env(database_url, redis_url, tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "write the shard as I/N" in result.stderr
