"""Migrations: applied once, in order, idempotent; an edited applied file is refused; an
installation without its migrations fails loudly instead of migrating nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from gateway.stores import migrations


async def test_template_database_is_fully_migrated(conn: asyncpg.Connection) -> None:
    applied = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in applied] == [m.version for m in migrations.discover()]
    assert await migrations.pending(conn) == []


async def test_rerun_applies_nothing(conn: asyncpg.Connection) -> None:
    assert await migrations.migrate(conn) == []


async def test_empty_database_gets_every_migration(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await conn.execute("CREATE SCHEMA fresh")
    await conn.execute("SET search_path TO fresh")
    applied = await migrations.migrate(conn)
    assert applied == [m.version for m in migrations.discover()]
    tables = await conn.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'fresh'"
    )
    assert tables >= 15


async def test_changed_migration_is_refused(conn: asyncpg.Connection, tmp_path: Path) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(migrations.SQL_DIR, copy)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    with pytest.raises(migrations.MigrationError, match="was changed after it was applied"):
        await migrations.migrate(conn, copy)


async def test_new_migration_is_applied_once(conn: asyncpg.Connection, tmp_path: Path) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(migrations.SQL_DIR, copy)
    (copy / "999_probe.sql").write_text("CREATE TABLE probe (id int);")
    assert await migrations.migrate(conn, copy) == ["999_probe"]
    assert await migrations.migrate(conn, copy) == []


async def test_failed_migration_leaves_nothing(conn: asyncpg.Connection, tmp_path: Path) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(migrations.SQL_DIR, copy)
    (copy / "999_broken.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(asyncpg.PostgresError):
        await migrations.migrate(conn, copy)
    assert await conn.fetchval("SELECT to_regclass('half')") is None
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = '999_broken'") == 0


async def test_no_migration_files_is_an_error_naming_where_it_looked(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    empty = tmp_path / "sql"
    empty.mkdir()
    (empty / "README.md").write_text("not a migration")
    with pytest.raises(migrations.MigrationError, match=re.escape(f"in {empty}: ")):
        migrations.discover(empty)
    await conn.execute("CREATE SCHEMA fresh")
    await conn.execute("SET search_path TO fresh")
    with pytest.raises(migrations.MigrationError, match=re.escape("gateway.stores.sql is missing")):
        await migrations.migrate(conn, empty)
    # refused before touching the database: not even the bookkeeping table was created
    assert await conn.fetchval("SELECT to_regclass('fresh.schema_migrations')") is None


# A wheel built without its package data: the migrations package cannot be imported.
WITHOUT_SQL_PACKAGE = """
import sys
sys.modules["gateway.stores.sql"] = None  # import of it now raises ModuleNotFoundError
from gateway.cli.main import main
sys.exit(main(["migrate"]))
"""


def test_migrate_without_the_migrations_package_exits_non_zero(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CALLGATE_DATABASE_URL": database_url, "CALLGATE_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SQL_PACKAGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "schema is current" not in result.stdout
    looked_in = Path(migrations.__file__).resolve().parent / "sql"
    assert f"callgate: no migration files (NNN_description.sql) in {looked_in}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_work_order_history_cannot_be_rewritten(conn: asyncpg.Connection) -> None:
    # rule W5: an order's history is never rewritten
    await conn.execute(
        """INSERT INTO branches VALUES ('P', 'p', 'province', NULL), ('C', 'c', 'city', 'P');
           INSERT INTO subscribers (msisdn, service_type, network, payment_mode, status, joined_on, city_code)
           VALUES ('18612345678', 'mobile', '4g', 'postpaid', 'active', '2020-01-01', 'C');
           INSERT INTO reactivations (msisdn, grant_month, seq, mode, scheme, level, channel, actor,
                                      granted_at, expires_at)
           VALUES ('18612345678', '2026-11-01', 1, 'postpaid_48h', 'vip_card', 'gold', 'agent', 'a',
                   now(), now() + interval '48 hours');
           INSERT INTO work_orders
               (reactivation_id, msisdn, city_code, status, due_at, created_at, updated_at)
           VALUES (1, '18612345678', 'C', 'new', now(), now(), now());
           INSERT INTO work_order_events (order_id, kind, to_status, actor, at)
           VALUES (1, 'created', 'new', 'a', now());"""
    )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("UPDATE work_order_events SET note = 'rewritten'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM work_order_events")
    assert await conn.fetchval("SELECT count(*) FROM work_order_events WHERE note IS NULL") == 1
