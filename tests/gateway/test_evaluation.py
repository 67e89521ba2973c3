"""The monthly evaluation against real PostgreSQL and Redis: raise, hold, lowering at
re-evaluation, expiry, cancellation; idempotent re-runs; crash and resume; the cache
record equals what a fresh database read produces."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from entitlements.months import Month
from entitlements.policy import load_policy
from entitlements.sms import sms_text
from entitlements.tiers import Evaluation
from gateway.batch import demo, evaluation
from gateway.services import cache
from gateway.stores.queries import snapshot, tiers
from gateway.stores.record import Record, key_of
from tests.gateway import province

POLICY = load_policy("unicom-2015")
TODAY = date(2027, 3, 15)
RAISE, LOWER, CANCEL, YOUNG, CARD = "18612340001", "18612340002", "18612340003", "18612340004", "18612340005"


async def evaluate_month(
    conn: asyncpg.Connection, redis_url: str, dsn: str, month: str
) -> evaluation.RunSummary:
    return await evaluation.run(
        conn, POLICY, Month.parse(month), TODAY, dsn=dsn, redis_url=redis_url, workers=1, show_progress=False
    )


async def rows(conn: asyncpg.Connection, msisdn: str) -> dict[str, asyncpg.Record]:
    found = await conn.fetch(
        """SELECT to_char(evaluated_month, 'YYYY-MM') AS m, level, change, effective_from, valid_until
           FROM tier_assignments WHERE msisdn = $1 AND source = 'evaluation' ORDER BY evaluated_month""",
        msisdn,
    )
    return {r["m"]: r for r in found}


@pytest.fixture
async def small_province(conn: asyncpg.Connection) -> asyncpg.Connection:
    await province.branches(conn)
    # tenure score 1.4 (61–96 months) throughout 2026 for a 2020 joiner (T1.5)
    await province.subscriber(conn, RAISE)
    await province.bills(
        conn, RAISE, "2024-12", "2027-02", {"*": 80, **{f"2026-{m:02d}": 300 for m in range(1, 13)}}
    )
    await province.subscriber(conn, LOWER)
    await province.bills(
        conn, LOWER, "2024-12", "2027-02", {"*": 10, **{f"2025-{m:02d}": 200 for m in range(1, 13)}}
    )
    await province.subscriber(conn, CANCEL)
    await province.bills(conn, CANCEL, "2024-12", "2027-02", 500)
    await province.subscriber(conn, YOUNG, joined=date(2026, 1, 20))
    await province.bills(conn, YOUNG, "2026-01", "2027-02", 100)
    await province.subscriber(conn, CARD)
    await province.bills(conn, CARD, "2024-12", "2027-02", 100)
    await conn.execute(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, since, source)
           VALUES ($1, 'unicom-vip', '2025-06-01', 'import', 'vip_card', 'gold', 'new', '2025-06-05',
                   '2026-06-08', '2025-06-05', 'import')""",
        CARD,
    )
    return conn


async def test_consecutive_months(
    small_province: asyncpg.Connection, redis_url: str, database_url: str
) -> None:
    conn = small_province
    for m in range(int(Month.parse("2026-01")), int(Month.parse("2027-02")) + 1):
        month = str(Month(m))
        if month == "2026-03":
            await conn.execute("UPDATE subscribers SET status = 'cancelled' WHERE msisdn = $1", CANCEL)
        await evaluate_month(conn, redis_url, database_url, month)

    r = await rows(conn, RAISE)
    # rule T1.4 rule T1.6: 2026-01 averages 2025 (80 yuan) → value 112: three-star, effective next month (T1.9)
    assert (r["2026-01"]["level"], r["2026-01"]["change"]) == ("three_star", "new")
    assert (r["2026-01"]["effective_from"], r["2026-01"]["valid_until"]) == (
        date(2026, 2, 1),
        date(2027, 1, 31),
    )
    # rule T1.9: 2026-02 averages 98 → 137.2, still three-star: held within validity
    assert (r["2026-02"]["level"], r["2026-02"]["change"]) == ("three_star", "held")
    # 2026-03 averages 117 → 163.8: four-star, a rise restarts the year
    assert (r["2026-03"]["level"], r["2026-03"]["change"]) == ("four_star", "raised")
    assert (r["2026-03"]["effective_from"], r["2026-03"]["valid_until"]) == (
        date(2026, 4, 1),
        date(2027, 3, 31),
    )

    low = await rows(conn, LOWER)
    assert (low["2026-01"]["level"], low["2026-01"]["change"]) == ("five_star", "new")
    # within validity the figures fall (2026-12 averages 10 yuan) but the level holds (T1.9)
    assert all(low[f"2026-{m:02d}"]["level"] == "five_star" for m in range(2, 13))
    assert low["2026-12"]["change"] == "held"
    # rule T1.9: re-evaluated in its last month of validity (2027-01), it may fall
    assert (low["2027-01"]["change"], low["2027-01"]["level"]) == ("lowered", "one_star")
    assert low["2027-01"]["effective_from"] == date(2027, 2, 1)

    gone = await rows(conn, CANCEL)
    assert gone["2026-02"]["level"] == "five_star"
    # rule T1.10: cancellation ends the level at once
    assert (gone["2026-03"]["change"], gone["2026-03"]["level"]) == ("ended", "unrated")
    redis = Redis.from_url(redis_url)
    assert await redis.hexists(*key_of(CANCEL)) is False  # cancelled numbers leave the cache

    young = await rows(conn, YOUNG)
    # rule T1.3: joined 2026-01 → tenure month 7 in 2026-07: rated from then on
    assert young["2026-06"]["change"] == "not_rated"
    assert young["2026-07"]["change"] == "new"

    card = await rows(conn, CARD)
    # rule T1.11: the legacy card (to 2026-06-08) serves; the star starts the day after it expires
    assert card["2026-04"]["change"] == "unchanged"
    assert card["2026-05"]["effective_from"] == date(2026, 6, 9)

    # every changed level queued one SMS in Chinese with its validity
    sms = await conn.fetch(
        "SELECT msisdn, month, body FROM notifications WHERE msisdn = $1 ORDER BY month", RAISE
    )
    # new (2026-01), four-star (2026-03), five-star (2026-07: 2025-07…2026-06 average 190 → 266)
    assert [s["month"] for s in sms] == [date(2026, 1, 1), date(2026, 3, 1), date(2026, 7, 1)]
    assert "四星" in sms[1]["body"] and "2027年3月31日" in sms[1]["body"]
    assert r["2026-07"]["level"] == "five_star"

    # the cache holds exactly what a fresh database read gives, for everyone
    for msisdn in (RAISE, LOWER, YOUNG, CARD):
        fresh = cache.record_for(await snapshot.load_one(conn, msisdn, TODAY), POLICY, TODAY)  # type: ignore[arg-type]
        raw = await redis.hget(*key_of(msisdn))
        assert isinstance(raw, bytes) and Record.decode(raw) == fresh
    await redis.aclose()


async def test_rerun_changes_nothing(
    small_province: asyncpg.Connection, redis_url: str, database_url: str
) -> None:
    conn = small_province
    first = await evaluate_month(conn, redis_url, database_url, "2026-01")
    assert first.evaluated == 5 and first.notifications > 0
    before = await conn.fetchval("SELECT count(*) FROM tier_assignments")
    sms = await conn.fetchval("SELECT count(*) FROM notifications")
    again = await evaluate_month(conn, redis_url, database_url, "2026-01")
    assert again.already_done and again.evaluated == 0
    assert await conn.fetchval("SELECT count(*) FROM tier_assignments") == before
    assert await conn.fetchval("SELECT count(*) FROM notifications") == sms


async def test_future_month_is_refused(
    small_province: asyncpg.Connection, redis_url: str, database_url: str
) -> None:
    with pytest.raises(evaluation.EvaluationRefused, match="has not begun"):
        await evaluate_month(small_province, redis_url, database_url, "2027-04")


async def test_killed_run_resumes_without_loss_or_doubles(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    await demo.load(conn, 1500, seed=11, today=date(2026, 11, 26), show_progress=False)
    env = {
        **os.environ,
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path),
        "CALLGATE_NOW": "2026-11-26T10:00:00+08:00",
    }
    args = [
        sys.executable,
        "-m",
        "gateway.cli.main",
        "evaluate",
        "--month",
        "2026-11",
        "--batch",
        "20",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    for _ in range(600):
        await asyncio.sleep(0.05)
        done = await conn.fetchval(
            "SELECT count(*) FROM tier_assignments WHERE evaluated_month = '2026-11-01' AND source = 'evaluation'"
        )
        if done >= 200:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    await asyncio.sleep(0.5)  # the workers die with their parent (PR_SET_PDEATHSIG)
    assert 0 < done < 1500, "the run must be killed half-way for this test to mean anything"
    assert await conn.fetchval("SELECT finished_at FROM evaluation_runs") is None

    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "resumed" in result.stdout
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM tier_assignments WHERE evaluated_month = '2026-11-01' AND source = 'evaluation'"
        )
        == 1500
    )
    assert (
        await conn.fetchval(
            "SELECT count(DISTINCT msisdn) FROM tier_assignments WHERE evaluated_month = '2026-11-01' AND source = 'evaluation'"
        )
        == 1500
    )
    queued = await conn.fetchval("SELECT count(*) FROM notifications")
    news = await conn.fetchval(
        """SELECT count(*) FROM tier_assignments WHERE evaluated_month = '2026-11-01' AND source = 'evaluation'
           AND change IN ('new', 'raised', 'renewed', 'lowered', 'expired')"""
    )
    assert queued == news  # one SMS per changed level, none lost, none doubled
    counts = await conn.fetchval("SELECT sum((counts->>'new')::int) FROM evaluation_shards")
    assert counts == await conn.fetchval(
        "SELECT count(*) FROM tier_assignments WHERE evaluated_month = '2026-11-01' AND source = 'evaluation' AND change = 'new'"
    )


async def test_an_unreachable_redis_leaves_the_database_run_whole(
    small_province: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    conn = small_province
    gone = f"unix://{tmp_path / 'no-redis.sock'}"
    summary = await evaluate_month(conn, gone, database_url, "2026-01")
    assert summary.evaluated == 5 and summary.cache_failed and summary.cache_written == 0
    assert "REDIS FAILED: run `callgate cache rebuild`" in "\n".join(summary.lines())
    assert await conn.fetchval("SELECT count(*) FROM tier_assignments WHERE source = 'evaluation'") == 5
    finished = await conn.fetchval("SELECT finished_at FROM evaluation_runs WHERE month = '2026-01-01'")
    assert finished is not None


async def test_every_sms_is_the_text_of_its_own_evaluation(
    conn: asyncpg.Connection, database_url: str, redis_url: str
) -> None:
    """T1.9: the outbox body is `sms_text` of that subscriber's own explanation (the run
    formats each distinct message once and reuses it)."""
    await demo.load(conn, 1500, seed=3, today=date(2026, 11, 26), show_progress=False)
    month = Month.parse("2026-11")
    await evaluation.run(
        conn, POLICY, month, date(2026, 11, 26), dsn=database_url, redis_url=redis_url, workers=1,
        show_progress=False,
    )  # fmt: skip
    found = await conn.fetch("SELECT msisdn, body FROM notifications WHERE month = '2026-11-01'")
    assert len(found) > 500 and len({r["body"] for r in found}) > 3
    for r in found:
        [stored] = await tiers.explanations(conn, r["msisdn"], POLICY.name, limit=1)
        own = Evaluation(r["msisdn"], month, True, None, stored.explanation)
        assert r["body"] == sms_text(own, POLICY)
