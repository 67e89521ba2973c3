"""X5: bills and tier history partitioned by month; `callgate retention --keep-months K`
drops whole old partitions and never what the evaluation or a serving level needs; the
migration converts a database with data in place, every row kept."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import demo, evaluation, retention
from gateway.stores import db, migrations
from gateway.stores.embedded import EmbeddedPostgres
from gateway.stores.queries import partitions
from tests.gateway import province

POLICY = load_policy("unicom-2015")
TODAY = date(2026, 11, 26)
_extra = itertools.count()


@pytest.fixture
async def twin_database(pg_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """Another fresh, migrated database: the same province without retention, to compare."""
    name = f"test_x5_{os.getpid()}_{next(_extra)}"
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


async def _months(conn: asyncpg.Connection, table: str) -> list[str]:
    return [str(Month.of(p.month)) for p in await partitions.monthly(conn, table, count_rows=False)]


async def _evaluate(conn: asyncpg.Connection, dsn: str, redis_url: str, month: str, today: date) -> None:
    await evaluation.run(
        conn, POLICY, Month.parse(month), today, dsn=dsn, redis_url=redis_url, workers=1, show_progress=False
    )


async def _tier_rows(conn: asyncpg.Connection, month: str) -> list[tuple[object, ...]]:
    rows = await conn.fetch(
        """SELECT msisdn, level, change, effective_from, valid_until, since FROM tier_assignments
           WHERE evaluated_month = $1 ORDER BY msisdn""",
        Month.parse(month).first_day,
    )
    return [tuple(r.values()) for r in rows]


async def test_retention_drops_old_months_and_the_next_evaluation_reads_what_it_needs(
    conn: asyncpg.Connection, database_url: str, twin_database: str, redis_url: str
) -> None:
    # rule X5: the demo province has bills 2025-09 … 2026-10 and legacy cards of 2026
    twin = await db.connect(twin_database)
    try:
        for c, dsn in ((conn, database_url), (twin, twin_database)):
            await demo.load(c, 400, seed=9, today=TODAY, show_progress=False)
            await _evaluate(c, dsn, redis_url, "2026-11", TODAY)
        assert "2025-09" in await _months(conn, "bills")
        serving_months = {str(Month.of(m)) for m in await partitions.serving_months(conn)}

        later = date(2026, 12, 20)  # next month: keep 13 months → from 2025-11 on
        planned = await retention.apply(conn, 13, later, dry_run=True)
        assert planned.drop and not planned.dropped
        assert "2025-09" in await _months(conn, "bills")  # a dry run drops nothing
        assert "dry run: nothing dropped" in planned.lines()

        done = await retention.apply(conn, 13, later, dry_run=False)
        assert done.dropped
        summary = "\n".join(done.lines())
        assert "bills: dropped 2 partitions (2025-09, 2025-10;" in summary
        bills_left = await _months(conn, "bills")
        assert bills_left[0] == "2025-11"
        assert await conn.fetchval("SELECT min(month) FROM bills") == date(2025, 11, 1)
        # tier history: every month a serving row was evaluated in is kept, the others go
        history_left = set(await _months(conn, "tier_assignments"))
        assert serving_months <= history_left
        assert all(m >= "2025-11" or m in serving_months for m in history_left)
        assert set(await _months(conn, "tier_explanations")) == history_left
        assert any(p.table == "tier_assignments" for p in done.drop)

        # rule T1.4 rule X5: the next month's evaluation reads the same bills and levels
        # as in the twin that kept everything, so it writes the same rows
        for c, dsn in ((conn, database_url), (twin, twin_database)):
            await _evaluate(c, dsn, redis_url, "2026-12", date(2026, 12, 20))
        assert await _tier_rows(conn, "2026-12") == await _tier_rows(twin, "2026-12")
        assert len(await _tier_rows(conn, "2026-12")) == 400
    finally:
        await twin.close()


async def test_retention_refuses_fewer_months_than_the_bill_window(conn: asyncpg.Connection) -> None:
    # rule X5 rule T1.4: the evaluation of M reads M-13 … M-1
    with pytest.raises(retention.RetentionRefused, match="keep at least 13"):
        await retention.apply(conn, 12, TODAY, dry_run=True)


async def test_an_unfinished_run_keeps_the_bills_it_reads(conn: asyncpg.Connection) -> None:
    # rule X5: a killed run of 2026-11 resumes over 2025-10 … 2026-10
    await province.branches(conn)
    await province.subscriber(conn, "18612340001")
    await partitions.ensure(conn, "bills", [Month.parse(f"2025-{m:02d}").first_day for m in range(1, 13)])
    await province.bills(conn, "18612340001", "2025-01", "2026-10", 100)
    await conn.execute(
        "INSERT INTO evaluation_runs (policy, month, policy_version, run_date) VALUES ('unicom-2015', '2026-11-01', 'x', '2026-11-06')"
    )
    result = await retention.apply(conn, 13, date(2027, 3, 1), dry_run=False)
    assert result.bills_cutoff == date(2025, 10, 1)
    assert (await _months(conn, "bills"))[0] == "2025-10"
    assert "an unfinished evaluation run reads them" in "\n".join(result.lines())


async def test_rows_of_a_month_without_partition_move_in_when_it_is_made(conn: asyncpg.Connection) -> None:
    # rule X5
    await province.branches(conn)
    await province.subscriber(conn, "18612340001")
    await province.bills(conn, "18612340001", "2024-01", "2024-02", 50)
    assert await conn.fetchval("SELECT count(*) FROM bills_default") == 2
    assert await partitions.ensure(conn, "bills", [date(2024, 1, 1)]) == [date(2024, 1, 1)]
    assert await conn.fetchval("SELECT count(*) FROM bills_2024_01") == 1
    assert await conn.fetchval("SELECT count(*) FROM bills_default") == 1
    assert await conn.fetchval("SELECT count(*) FROM bills") == 2


def test_retention_command_prints_its_plan(database_url: str, redis_url: str, tmp_path: Path) -> None:
    # rule X5
    env = {
        **os.environ,
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path),
        "CALLGATE_NOW": "2026-11-26T10:00:00+08:00",
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "retention", "--keep-months", "13", "--dry-run"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("retention: keep 13 months (2025-10 onward; today 2026-11-26)")
    refused = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "retention", "--keep-months", "6"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "keep at least 13" in refused.stderr


async def test_migrating_a_database_with_data_keeps_every_row(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """rule X5: 050–054 convert a database written by the earlier migrations in place."""
    before = tmp_path / "sql-before"
    before.mkdir()
    for path in migrations.SQL_DIR.glob("*.sql"):
        if int(path.name.split("_", 1)[0]) < 50:
            shutil.copy(path, before / path.name)
    await conn.execute("CREATE SCHEMA legacy")
    await conn.execute("SET search_path TO legacy")
    await migrations.migrate(conn, before)
    await province.branches(conn)
    for n in range(5):
        await province.subscriber(conn, f"1861234000{n}")
        await province.bills(conn, f"1861234000{n}", "2025-06", "2026-10", 80 + n)
    rows = []
    for n in range(5):  # rule T1.9: a year of monthly evaluations, and a legacy card
        for m in range(12):
            month = Month.parse("2025-11") + m
            rows.append((f"1861234000{n}", "unicom-2015", month.first_day, "star", "three_star", "held",
                         (month + 1).first_day, (month + 13).first_day, "evaluation"))  # fmt: skip
        rows.append((f"1861234000{n}", "unicom-vip", date(2026, 3, 1), "vip_card", "gold", "new",
                     date(2026, 3, 8), date(2027, 3, 7), "import"))  # fmt: skip
    await conn.executemany(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, source)
           VALUES ($1, $2, $3, 'v', $4, $5, $6, $7, $8::date - 1, $9)""",
        rows,
    )
    await conn.execute(
        """INSERT INTO tier_explanations (msisdn, policy, evaluated_month, explanation)
           SELECT msisdn, policy, evaluated_month, '{"rules": []}' FROM tier_assignments"""
    )
    await conn.executemany(  # rule T1.9: the monthly tier SMS, one per subscriber and month
        "INSERT INTO notifications (msisdn, kind, month, body) VALUES ($1, 'tier', $2, 'x')",
        [(f"1861234000{n}", date(2026, 10, 1)) for n in range(5)],
    )
    counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in partitions.MONTHLY}  # noqa: S608
    sums = await conn.fetchval("SELECT sum(billed_fen) + sum(paid_fen) FROM bills")

    applied = await migrations.migrate(conn)
    assert [v[:3] for v in applied] == ["050", "051", "052", "053", "054"]
    # 054 re-keys the SMS outbox's once-a-month rule: the rows stay, and it still holds
    assert await conn.fetchval("SELECT count(*) FROM notifications") == 5
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(
            "INSERT INTO notifications (msisdn, kind, month, body) VALUES ('18612340003', 'tier', '2026-10-01', 'y')"
        )
    for table, count in counts.items():
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == count, table  # noqa: S608
        assert await conn.fetchval(f"SELECT count(*) FROM {table}_default") == 0, table  # noqa: S608
        assert (
            await conn.fetchval(  # partitioned by month: one partition per month held
                "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", table
            )
            == "p"
        )
    assert await conn.fetchval("SELECT sum(billed_fen) + sum(paid_fen) FROM bills") == sums
    assert "2025-06" in await _months(conn, "bills") and "2026-10" in await _months(conn, "tier_assignments")
    # rule T1.9 rule T1.11: the serving state is backfilled: per subscriber the level in force,
    # the next one (each evaluation takes effect the month after) and the card, not the year
    # of history
    serving = await conn.fetch(
        "SELECT msisdn, evaluated_month FROM tier_serving ORDER BY msisdn, policy, evaluated_month"
    )
    assert len(serving) == 15
    assert {r["evaluated_month"] for r in serving} == {date(2026, 9, 1), date(2026, 10, 1), date(2026, 3, 1)}
    await conn.execute("RESET search_path")
