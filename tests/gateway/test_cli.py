"""The callgate command line, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from gateway.services.tokens import hash_token


def callgate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def store_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path),
        "CALLGATE_NOW": "2026-11-26T10:00:00+08:00",
    }


async def test_tokens_create_prints_the_token_last(
    database_url: str, redis_url: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    env = store_env(database_url, redis_url, tmp_path)
    result = callgate(["tokens", "create", "--role", "agent", "--name", "desk 7", "--expires-in", "12h"], env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    row = await conn.fetchrow(
        "SELECT role, name, expires_at FROM api_tokens WHERE token_hash = $1", hash_token(token)
    )
    assert row is not None and row["role"] == "agent" and row["name"] == "desk 7"
    assert row["expires_at"] is not None
    listing = callgate(["tokens", "list"], env)
    assert "agent" in listing.stdout and token not in listing.stdout  # the secret is never shown again


async def test_branch_token_needs_a_known_branch(database_url: str, redis_url: str, tmp_path: Path) -> None:
    result = callgate(
        ["tokens", "create", "--role", "branch", "--branch", "NOPE"],
        store_env(database_url, redis_url, tmp_path),
    )
    assert result.returncode == 2
    assert "not a known city or county branch" in result.stderr


async def test_import_reports_the_bad_row(database_url: str, redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    path.write_text("code,name,level,parent_code\nHA,省,province,\nHA-ZZ,市,town,HA\n", encoding="utf-8")
    result = callgate(["import", "branches", str(path)], store_env(database_url, redis_url, tmp_path))
    assert result.returncode == 1
    assert "row 3: level 'town' is not one of province, city, county" in result.stderr
    assert "nothing loaded" in result.stderr


async def test_demo_data_refuses_to_overwrite(database_url: str, redis_url: str, tmp_path: Path) -> None:
    env = store_env(database_url, redis_url, tmp_path)
    first = callgate(["demo-data", "--subscribers", "300"], env)
    assert first.returncode == 0, first.stderr
    assert "300 subscribers" in first.stdout
    second = callgate(["demo-data", "--subscribers", "300"], env)
    assert second.returncode == 1 and "--reset" in second.stderr


def test_bad_setting_exits_2_with_the_variable_named(tmp_path: Path) -> None:
    result = callgate(["migrate"], {"CALLGATE_PORT": "eighty", "CALLGATE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "CALLGATE_PORT='eighty' is not an integer" in result.stderr


async def test_production_refuses_to_start_with_demo_tokens(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    from gateway.batch.demo import DEMO_TOKENS, install_demo_tokens

    await conn.execute(
        "INSERT INTO branches VALUES ('HA', 'p', 'province', NULL), ('HA-ZZ', 'c', 'city', 'HA')"
    )
    await conn.execute("INSERT INTO branches VALUES ('HA-ZZ-ZM', 'x', 'county', 'HA-ZZ')")
    await install_demo_tokens(conn)
    result = callgate(["serve"], {**store_env(database_url, redis_url, tmp_path), "CALLGATE_PORT": "0"})
    assert result.returncode == 1
    assert f"refuses to start while {len(DEMO_TOKENS)} demo token(s) are live" in result.stderr
