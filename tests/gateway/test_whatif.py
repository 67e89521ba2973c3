"""O1, what-if: `callgate evaluate --dry-run` over a small province whose answer is worked
out by hand — the from → to matrix, the VIP desk before and after, its agents by Erlang C
(Q6) — with the database and Redis byte for byte unchanged, and the report files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from entitlements.months import Month
from entitlements.policy import load_policy, read_policy
from gateway.batch import evaluation
from gateway.batch.whatif import WhatIf, staff
from gateway.batch.whatif_report import report_stem
from tests.gateway import province

POLICY = load_policy("unicom-2015")
TODAY = date(2027, 3, 15)
NOW = "2027-03-15T10:00:00+08:00"
FIVE, FOUR, THREE, TWO, ONE, GUEST, YOUNG, GONE, CARD = (f"186123400{i:02d}" for i in range(1, 10))

# Next year's thresholds, tried on 2027-01 (the last month of validity of the levels given
# in 2026-01, so they are re-evaluated: C6), and three-star sent to the general queue.
NEXT_YEAR = """name = "unicom-2015"
version = "2015.1+next-year"

[[star.thresholds.sets]]
valid_from = "2015-01"
five_star = 260
four_star = 140
three_star = 90
two_star = 30

[[star.thresholds.sets]]
valid_from = "2027-01"
five_star = 300
four_star = 170
three_star = 100
two_star = 40

[routing.star]
three_star = { queue = "general", priority = 0 }
"""


@pytest.fixture
async def rated_province(conn: asyncpg.Connection, database_url: str, redis_url: str) -> asyncpg.Connection:
    """Nine subscribers rated in 2026-01 (levels valid through 2027-01-31), one cancelled since.

    Joined 2020-01: tenure score 1.4 in both runs (T1.5), so value = monthly bill × 1.4 (T1.6).
    """
    await province.branches(conn)
    for number, yuan in (
        (FIVE, 200),
        (FOUR, 110),
        (THREE, 80),
        (TWO, 25),
        (ONE, 10),
        (GONE, 300),
        (CARD, 100),
    ):
        await province.subscriber(conn, number)
        await province.bills(conn, number, "2024-12", "2027-02", yuan)
    await province.subscriber(conn, GUEST, flags=["vip_guest"])
    await province.bills(conn, GUEST, "2024-12", "2027-02", 10)
    # joined 2025-10: tenure month 4 in 2026-01 (not rated, T1.3), 16 in 2027-01 (score 1.1)
    await province.subscriber(conn, YOUNG, joined=date(2025, 10, 10))
    await province.bills(conn, YOUNG, "2025-10", "2027-02", 300)
    # a legacy gold card until 2027-06-08: it serves until then (T1.11)
    await conn.execute(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, since, source)
           VALUES ($1, 'unicom-vip', '2026-06-01', 'import', 'vip_card', 'gold', 'new', '2026-06-05',
                   '2027-06-08', '2026-06-05', 'import')""",
        CARD,
    )
    await evaluation.run(
        conn, POLICY, Month.parse("2026-01"), TODAY, dsn=database_url, redis_url=redis_url,
        workers=1, show_progress=False,
    )  # fmt: skip
    await conn.execute("UPDATE subscribers SET status = 'cancelled' WHERE msisdn = $1", GONE)
    return conn


# rule O1: the matrix worked out by hand (value = bill × 1.4 against 300/170/100/40 from 2027-01)
EXPECTED_MOVES = {
    ("star:five_star", "star:four_star"): 1,  # 200 → 280 < 300: lowered at re-evaluation (C6)
    ("star:four_star", "star:three_star"): 1,  # 110 → 154 < 170
    ("star:three_star", "star:three_star"): 1,  # 80 → 112 ≥ 100: renewed
    ("star:two_star", "star:one_star"): 1,  # 25 → 35 < 40
    ("star:one_star", "star:one_star"): 1,  # 10 → 14
    ("star:vip_guest", "star:vip_guest"): 1,  # the special rule (T1.8) renews
    ("star:unrated", "star:five_star"): 1,  # now in tenure month 16: 300 × 1.1 = 330
    ("star:five_star", "star:unrated"): 1,  # cancelled since: the level ends at once (T1.10)
    ("vip_card:gold", "vip_card:gold"): 1,  # the legacy card still serves (T1.11)
}


def moves_of(whatif: WhatIf) -> dict[tuple[str, str], int]:
    return {(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}"): n for (a, b), n in whatif.cells.items() if n}


async def fingerprint(conn: asyncpg.Connection, redis_url: str) -> dict[str, object]:
    """Row count and checksum of every table; Redis DBSIZE and every key's bytes."""
    tables = [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    state: dict[str, object] = {}
    for table in sorted(tables):
        row = await conn.fetchrow(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"  # noqa: S608 - table names from the catalogue
        )
        assert row is not None  # an aggregate always returns a row
        state[table] = (row[0], row[1])
    redis = Redis.from_url(redis_url)
    try:
        state["redis dbsize"] = await redis.dbsize()
        keys = sorted(await redis.keys("*"))
        state["redis records"] = {k: await redis.dump(k) for k in keys}
    finally:
        await redis.aclose()
    return state


def callgate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", *args],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}, **env},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


async def test_a_dry_run_prints_the_hand_worked_matrix_and_writes_nothing(
    rated_province: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    conn = rated_province
    override = tmp_path / "next-year.toml"
    override.write_text(NEXT_YEAR, encoding="utf-8")
    before = await fingerprint(conn, redis_url)
    assert before["tier_assignments"] != (0, "") and before["redis dbsize"] != 0  # something to keep
    env = {
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path / "data"),
        "CALLGATE_NOW": NOW,
    }
    report = tmp_path / "report"
    done = callgate(
        [
            "evaluate", "--month", "2027-01", "--dry-run", "--override", str(override),
            "--report", str(report), "--vip-calls-per-hour", "200", "--workers", "2", "--batch", "3",
        ],
        env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # rule O1: nothing written — every table and every Redis record byte for byte as before
    assert await fingerprint(conn, redis_url) == before
    assert await conn.fetchval("SELECT count(*) FROM evaluation_runs WHERE month = '2027-01-01'") == 0
    assert "dry run, nothing written" in out and "(run date 2027-01-06)" in out
    # progress as for the real run (a line every few seconds off a terminal, and the last one)
    assert "dry run 2027-01: 9/9 subscribers (100.0%)" in done.stderr
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("from \\ to"))
    columns = lines[head].split()[3:-1]
    assert columns == ["five_star", "vip_guest", "four_star", "three_star", "one_star", "unrated", "gold"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[head + 1 : head + 9]}
    assert list(rows) == [
        "five_star", "vip_guest", "four_star", "three_star", "two_star", "one_star", "unrated", "gold"
    ]  # fmt: skip
    assert rows["five_star"] == ["0", "0", "1", "0", "0", "1", "0", "2"]
    assert rows["four_star"] == ["0", "0", "0", "1", "0", "0", "0", "1"]
    assert rows["two_star"] == ["0", "0", "0", "0", "1", "0", "0", "1"]
    assert rows["unrated"] == ["1", "0", "0", "0", "0", "0", "0", "1"]
    assert lines[head + 9].split() == ["total", "1", "1", "1", "2", "2", "1", "1", "9"]
    # rule Q1: before five (×2), four, three, VIP guest and the gold card; after four, VIP guest,
    # the new five-star and the card (three-star now goes to the general queue)
    assert "VIP desk (levels routed to the vip queue): 6 before → 4 after (-2, -33.3%)" in out
    # rule Q6: 200 calls/h × 180 s = 10 Erlangs → 14 agents (SL 0.88835, the SPEC's check vector);
    # after: 200 × 4/6 = 133.3 calls/h (6.67 Erlangs) → 10 agents
    assert (
        "given with --vip-calls-per-hour: now 200.0 calls/h → 14 agents (service level 88.8%, ASA 7.8 s); "
        "after 133.3 calls/h → 10 agents" in out
    )
    assert staff(200 * 4 / 6, POLICY.staffing).agents == 10
    assert "would be new 1, raised 0, held 0, renewed 3, lowered 3, expired 0, ended 1" in out

    # the report: file names carry the policy and the month
    stem = "whatif-unicom-2015-2015.1+next-year-2027-01"
    assert sorted(p.name for p in report.iterdir()) == sorted(
        [f"{stem}-matrix.csv", f"{stem}-population.csv", f"{stem}.html"]
    )
    matrix = list(csv.reader((report / f"{stem}-matrix.csv").read_text(encoding="utf-8").splitlines()))
    header = matrix[0]
    found = {
        (row[0], header[j]): int(value)
        for row in matrix[1:-1]
        for j, value in enumerate(row[1:-1], start=1)
        if int(value)
    }
    assert found == EXPECTED_MOVES
    population = {
        row["level"]: row
        for row in csv.DictReader(
            (report / f"{stem}-population.csv").read_text(encoding="utf-8").splitlines()
        )
    }
    assert (population["three_star"]["queue_before"], population["three_star"]["queue_after"]) == (
        "vip",
        "general",
    )
    assert (population["vip_desk"]["subscribers_before"], population["vip_desk"]["subscribers_after"]) == (
        "6",
        "4",
    )
    page = (report / f"{stem}.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "VIP desk before" in page and "14</td>" in page


async def test_the_dry_run_predicts_the_real_run(
    rated_province: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # rule O1: the same code path — the real run afterwards gives exactly the dry run's answer
    conn = rated_province
    override = tmp_path / "next-year.toml"
    override.write_text(NEXT_YEAR, encoding="utf-8")
    candidate = read_policy("unicom-2015", override)
    month = Month.parse("2027-01")
    dry = await evaluation.dry_run(
        conn, candidate, month, TODAY, baseline=POLICY, dsn=database_url, workers=1, show_progress=False
    )
    whatif = WhatIf(candidate, POLICY, dry, [])
    assert moves_of(whatif) == EXPECTED_MOVES
    assert whatif.staffing_lines() == ["VIP agents (Q6): no calling rate"]
    # the connection is read-only from here: PostgreSQL itself refuses a write
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await conn.execute("DELETE FROM notifications")
    await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
    real = await evaluation.run(
        conn, candidate, month, TODAY, dsn=database_url, redis_url=redis_url, workers=1, show_progress=False
    )
    assert real.changes == dry.changes and real.notifications == dry.notifications
    levels = [
        r["level"]
        for r in await conn.fetch(
            "SELECT level FROM tier_assignments WHERE evaluated_month = '2027-01-01' AND source = 'evaluation'"
        )
    ]
    assert Counter(levels) == Counter(
        {"four_star": 1, "three_star": 2, "one_star": 2, "vip_guest": 1, "five_star": 1, "unrated": 2}
    )


async def test_a_dry_run_of_an_evaluated_month_gives_that_runs_answer(
    rated_province: asyncpg.Connection, database_url: str, redis_url: str
) -> None:
    # rule O1: a dry run of a month already evaluated rates against the level held before it.
    # Held within validity (T1.9), 2026-02's rows replace 2026-01's in the serving state at
    # once (sql/054), so the dry run reads the history (evaluation.dry_run).
    conn = rated_province
    month = Month.parse("2026-02")
    real = await evaluation.run(
        conn, POLICY, month, TODAY, dsn=database_url, redis_url=redis_url, workers=1, show_progress=False
    )
    assert real.changes["held"] >= 5
    pruned = await conn.fetchval(
        """SELECT count(*) FROM tier_assignments a WHERE a.evaluated_month = '2026-01-01'
             AND a.source = 'evaluation' AND NOT EXISTS (
                 SELECT 1 FROM tier_serving s WHERE s.msisdn = a.msisdn AND s.policy = a.policy
                   AND s.evaluated_month = a.evaluated_month)"""
    )
    assert pruned >= 5
    dry = await evaluation.dry_run(
        conn, POLICY, month, TODAY, baseline=POLICY, dsn=database_url, workers=1, show_progress=False
    )
    await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
    assert dry.changes == real.changes and dry.notifications == real.notifications


async def test_the_calling_rate_comes_from_the_queue_statistics(
    rated_province: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # rule O1 and rule Q6: without --vip-calls-per-hour, the last 30 days of finished intervals
    conn = rated_province
    env = {
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path / "data"),
        "CALLGATE_NOW": NOW,
    }
    args = ["evaluate", "--month", "2027-01", "--dry-run", "--workers", "1"]
    missing = callgate(args, env)
    assert missing.returncode == 0, missing.stderr
    assert "the VIP desk's calling rate is required: give --vip-calls-per-hour N" in missing.stdout
    assert "the queue statistics hold no vip interval in the 30 days before 2027-03-15" in missing.stdout
    # finished intervals as the queue engine (§9, sql/020) writes them
    at = datetime.fromisoformat(NOW)
    hour = datetime.fromisoformat("2027-03-10T10:00:00+08:00")
    rows = [("vip", hour.replace(minute=15 * q), 60) for q in range(4)]  # 240 in the busiest hour
    rows += [("vip", hour.replace(hour=14, minute=15 * q), 40) for q in range(4)]  # 160 the next
    rows += [("general", hour, 999), ("vip", at.replace(month=1), 999)]  # another desk; > 30 days ago
    await conn.executemany(
        """INSERT INTO queue_intervals (desk, starts_at, ends_at, offered, answered, answered_within,
                                        abandoned, short_abandoned, wait_ms, threshold_s, short_abandon_s)
           VALUES ($1, $2::timestamptz, $2::timestamptz + interval '15 minutes', $3, $3, $3, 0, 0, 0, 20, 5)""",
        rows,
    )
    done = callgate(args, env)
    assert done.returncode == 0, done.stderr
    # 400 calls in 8 quarter hours: 200 an hour → 14 agents (Q6's check vector); 240 in the busiest
    assert "mean hour, last 30 days (8 intervals, 400 calls): now 200.0 calls/h → 14 agents" in done.stdout
    assert "busiest hour (2027-03-10 10:00): now 240.0 calls/h → 16 agents" in done.stdout
    assert staff(240, POLICY.staffing).agents == 16


def test_an_invalid_override_lists_every_fault_before_reading_a_row(tmp_path: Path) -> None:
    # rule O1: the policy is checked before any store is reached (this database does not exist)
    override = tmp_path / "bad.toml"
    override.write_text(
        'name = "unicom-2015"\n[routing.star]\nfour_star = { queue = "vip", priority = -5 }\n'
        "[staffing]\nhandling_s = 0\n",
        encoding="utf-8",
    )
    env = {
        "CALLGATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "CALLGATE_REDIS_URL": "redis://127.0.0.1:9/0",
        "CALLGATE_DATA_DIR": str(tmp_path / "data"),
        "CALLGATE_NOW": NOW,
    }
    done = callgate(["evaluate", "--month", "2027-01", "--dry-run", "--override", str(override)], env)
    assert done.returncode == 1
    assert "the policy does not validate (2 faults); nothing was read:" in done.stderr
    assert f"{override}: routing.star.four_star.priority: VIP desk priority must be above 0" in done.stderr
    assert f"{override}: staffing.handling_s: must be at least 1, got 0" in done.stderr
    assert "connect" not in done.stderr.lower() and not done.stdout


def test_dry_run_options_need_dry_run(tmp_path: Path) -> None:
    env = {"CALLGATE_DATA_DIR": str(tmp_path), "CALLGATE_NOW": NOW}
    done = callgate(["evaluate", "--month", "2027-01", "--report", str(tmp_path)], env)
    assert done.returncode == 1 and "--report goes with --dry-run" in done.stderr


def test_report_names_carry_policy_and_month() -> None:
    summary = evaluation.RunSummary("unicom-2015", "2027-01", date(2027, 1, 6))
    policy = read_policy("unicom-2015")
    assert report_stem(WhatIf(policy, policy, summary, [])) == "whatif-unicom-2015-2015.1-2027-01"
