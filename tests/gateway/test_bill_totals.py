"""Issue 22.1: bill months folded into per-subscriber totals (sql/053). Every writer of bills
keeps the totals; a batch read from the fold on gives the engine the same window, the same
cumulative amount paid (T4.1) and the same months in arrears as a read of every row; the
evaluation folds the months before its window; retention subtracts what it drops."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from entitlements.months import Month
from gateway.batch import evaluation, retention
from gateway.batch.importer import import_file
from gateway.services.payments import owed_fen
from gateway.stores import db
from gateway.stores.queries import bill_totals, partitions, snapshot
from tests.gateway import province, test_retention
from tests.gateway.test_retention import POLICY, _tier_rows

twin_database = test_retention.twin_database  # the fixture: another fresh database

SHANGHAI = timezone(timedelta(hours=8))
MONTH = Month.parse("2026-11")
BILL_WINDOW = snapshot.BILL_WINDOW
WINDOW = (MONTH - BILL_WINDOW).first_day  # 2025-10-01


async def _recomputed(conn: asyncpg.Connection) -> dict[str, tuple[int, int, list[int]]]:
    """The totals as they should be, from every bill row before the fold's month: the sums,
    and the running bill totals (months with a bill, in order) above everything paid."""
    rows = await conn.fetch(
        """SELECT msisdn, array_agg(billed_fen ORDER BY month), array_agg(paid_fen ORDER BY month) FROM bills
           WHERE month < (SELECT through FROM bill_totals_through) GROUP BY msisdn"""
    )
    out = {}
    for msisdn, billed, paid in rows:
        running = [sum(billed[: i + 1]) for i in range(len(billed))]
        unpaid = [r for r, b in zip(running, billed, strict=True) if b and r > sum(paid)]
        out[msisdn] = (sum(billed), sum(paid), unpaid)
    return out


async def _totals(conn: asyncpg.Connection) -> dict[str, tuple[int, int, list[int]]]:
    rows = await conn.fetch("SELECT msisdn, billed_fen, paid_fen, unpaid_upto FROM bill_totals")
    return {r[0]: (r[1], r[2], list(r[3])) for r in rows}


_WAITING = "SELECT count(*) FROM pg_locks WHERE relation = 'bill_totals'::regclass AND NOT granted"


async def _someone_waits_for_the_totals(conn: asyncpg.Connection, waits: bool = True) -> bool:
    """Whether a session waits for a lock on bill_totals (`waits`), or none does (not
    `waits`), within five seconds: a fold's swap behind a read is seen at the server."""
    for _ in range(100):
        if bool(await conn.fetchval(_WAITING)) == waits:
            return True
        await asyncio.sleep(0.05)
    return False


async def _province(conn: asyncpg.Connection) -> list[str]:
    """Subscribers whose bills start years before the window, in every shape that matters."""
    await province.branches(conn)
    numbers = [f"1861234{n:04d}" for n in range(7)]
    for msisdn in numbers:
        await province.subscriber(conn, msisdn, joined=date(2022, 1, 10))
    await partitions.ensure(
        conn, "bills", [Month(m).first_day for m in range(int(Month.parse("2023-06")), int(MONTH))]
    )
    paid_up, old_debtor, paid_off_later, gaps, recent_debtor, payer, _no_bills = numbers
    await province.bills(conn, paid_up, "2023-06", "2026-10", 88)
    # unpaid since 2024-03: arrears reaching deep into the folded months
    await province.bills(conn, old_debtor, "2023-06", "2026-10", 50, unpaid_from="2024-03")
    # unpaid 2024-01 … 2024-06, then a payment this year settles it (oldest first)
    await province.bills(conn, paid_off_later, "2023-06", "2026-10", 60, unpaid_from="2024-01")
    await conn.execute(
        "UPDATE bills SET paid_fen = billed_fen WHERE msisdn = $1 AND month >= '2024-07-01'", paid_off_later
    )
    await conn.execute(
        "INSERT INTO payments (msisdn, paid_at, amount_fen, source) VALUES ($1, $2, 36000, 'api')",
        paid_off_later,
        datetime(2026, 3, 5, 10, tzinfo=SHANGHAI),
    )
    # rows in some months only: none in the window's first months
    await province.bills(conn, gaps, "2023-06", "2024-02", 40)
    await province.bills(conn, gaps, "2026-02", "2026-10", 40)
    await province.bills(conn, recent_debtor, "2023-06", "2026-10", 70, unpaid_from="2026-08")
    await province.bills(conn, payer, "2023-06", "2026-10", 30, unpaid_from="2024-05")
    for when in (datetime(2024, 4, 9, tzinfo=SHANGHAI), datetime(2025, 1, 9, tzinfo=SHANGHAI)):
        await conn.execute(
            "INSERT INTO payments (msisdn, paid_at, amount_fen, source) VALUES ($1, $2, 9000, 'api')",
            payer,
            when,
        )
    return numbers


async def test_every_writer_of_bills_keeps_the_folded_totals(conn: asyncpg.Connection) -> None:
    # rule T4.1 (cumulative paid) and arrears: the totals are always the sums of the rows
    numbers = await _province(conn)
    assert await bill_totals.through(conn) is None
    assert await bill_totals.fold(conn, WINDOW) is not None
    assert await bill_totals.through(conn) == WINDOW
    assert await _totals(conn) == await _recomputed(conn) and len(await _totals(conn)) == 6
    assert await bill_totals.fold(conn, WINDOW) is None  # folded that far already
    first = numbers[0]
    writes = [
        # a correction of a folded month, as the import merges one
        """INSERT INTO bills AS b (msisdn, month, billed_fen, paid_fen) VALUES ($1, '2024-02-01', 1, 2)
           ON CONFLICT (msisdn, month) DO UPDATE SET billed_fen = excluded.billed_fen, paid_fen = excluded.paid_fen""",
        # a month before every partition (it lands in bills_default), then corrected and moved
        "INSERT INTO bills (msisdn, month, billed_fen, paid_fen) VALUES ($1, '2022-03-01', 500, 100)",
        "UPDATE bills SET paid_fen = 400 WHERE msisdn = $1 AND month = '2022-03-01'",
        "UPDATE bills SET month = '2026-11-01' WHERE msisdn = $1 AND month = '2022-03-01'",
        "DELETE FROM bills WHERE msisdn = $1 AND month < '2023-09-01'",
        "UPDATE bills SET billed_fen = billed_fen + 1 WHERE msisdn = $1",  # folded and not
    ]
    for sql in writes:
        await conn.execute(sql, first)
        assert await _totals(conn) == await _recomputed(conn), sql
    # a later fold adds exactly the months it folds
    assert (folded := await bill_totals.fold(conn, (MONTH - 6).first_day)) is not None
    assert (folded.first, folded.upto) == (WINDOW, (MONTH - 6).first_day)
    assert await _totals(conn) == await _recomputed(conn)
    await conn.execute("TRUNCATE bills")
    assert await bill_totals.through(conn) is None and await _totals(conn) == {}


async def test_a_folded_read_gives_the_engine_what_a_full_read_gives(conn: asyncpg.Connection) -> None:
    # rule T4.1 rule T1.4 rule R7: the window, cumulative paid, arrears and what is owed
    numbers = await _province(conn)
    full = await snapshot.load_range(conn, "", 100, today=date(2026, 11, 26), bills_from=WINDOW)
    assert all(s.folded_through is None for s in full)  # nothing folded yet: every row
    await bill_totals.fold(conn, WINDOW)
    folded = await snapshot.load_range(conn, "", 100, today=date(2026, 11, 26), bills_from=WINDOW)
    assert [s.subscriber.msisdn for s in folded] == numbers == [s.subscriber.msisdn for s in full]
    for a, b in zip(full, folded, strict=True):
        assert b.folded_through == int(Month.of(WINDOW))
        assert min(b.bill_months, default=int(MONTH)) >= int(Month.of(WINDOW))
        assert a.history(MONTH) == b.history(MONTH), a.subscriber.msisdn
        assert a.arrears_months == b.arrears_months, a.subscriber.msisdn
        assert owed_fen(a) == owed_fen(b), a.subscriber.msisdn
        with pytest.raises(ValueError, match="folded into totals"):
            b.history(MONTH - 1)
    arrears = {s.subscriber.msisdn: s.arrears_months for s in folded}
    paid_up, old_debtor, paid_off_later, gaps, recent_debtor, payer, no_bills = numbers
    assert arrears[old_debtor] == 32 and arrears[recent_debtor] == 3 and arrears[paid_up] == 0
    assert arrears[paid_off_later] == 0 and arrears[gaps] == 0 and arrears[no_bills] == 0
    assert arrears[payer] == 24  # 18,000 fen paid later settle six of the 30 unpaid months
    # the cache rebuild's read (no month by month), inside a transaction as the rebuild's
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rebuilt = [s async for chunk in snapshot.iterate(conn, bills_from=snapshot.NO_MONTHS) for s in chunk]
    assert [s.arrears_months for s in rebuilt] == [s.arrears_months for s in full]
    assert all(s.folded_through == int(Month.of(WINDOW)) for s in rebuilt)
    # one subscriber's read (the lookup's miss path) reads every row and agrees
    one = await snapshot.load_one(conn, old_debtor, date(2026, 11, 26))
    assert one is not None and one.folded_through is None and one.arrears_months == 32
    # a caller that needs months before the fold gets every row
    older = await snapshot.load_range(conn, "", 100, bills_from=(MONTH - 20).first_day)
    assert all(s.folded_through is None for s in older)
    assert [s.history(MONTH - 7) for s in older] == [
        s.history(MONTH - 7) for s in await snapshot.load_range(conn, "", 100)
    ]


async def test_the_evaluation_folds_before_its_window_and_rates_as_before(
    conn: asyncpg.Connection,
    database_url: str,
    twin_database: str,
    redis_url: str,
) -> None:
    # rule T1.4 rule T4.1: the same tiers from folded bills as from every row
    twin = await db.connect(twin_database)
    try:
        for c in (conn, twin):
            await _province(c)
        # the twin's fold lies past every window: it folds nothing and reads every row
        await twin.execute("UPDATE bill_totals_through SET through = '2099-01-01'")
        summaries = []
        for c, dsn in ((conn, database_url), (twin, twin_database)):
            summaries.append(
                await evaluation.run(
                    c,
                    POLICY,
                    MONTH,
                    date(2026, 11, 26),
                    dsn=dsn,
                    redis_url=redis_url,
                    workers=1,
                    show_progress=False,
                )
            )
        assert await bill_totals.through(conn) == WINDOW and summaries[1].fold is None
        assert summaries[0].fold is not None and summaries[0].fold.subscribers == 6
        assert "bills folded into totals: every month to 2025-09, 6 subscribers" in "\n".join(
            summaries[0].lines()
        )
        assert await _tier_rows(conn, "2026-11") == await _tier_rows(twin, "2026-11")
        explained = (
            "SELECT msisdn, explanation FROM tier_explanations WHERE evaluated_month = $1 ORDER BY msisdn"
        )
        assert await conn.fetch(explained, MONTH.first_day) == await twin.fetch(explained, MONTH.first_day)
        # the next month folds one more month
        summary = await evaluation.run(
            conn, POLICY, MONTH + 1, date(2026, 12, 20), dsn=database_url, redis_url=redis_url, workers=1,
            show_progress=False,
        )  # fmt: skip
        assert summary.fold is not None and (summary.fold.first, summary.fold.upto) == (
            WINDOW,
            (MONTH + 1 - snapshot.BILL_WINDOW).first_day,
        )
        assert "bills folded into totals: months 2025-10 … 2025-10" in "\n".join(summary.lines())
        assert await _totals(conn) == await _recomputed(conn)
    finally:
        await twin.close()


async def test_retention_takes_dropped_months_out_of_the_totals(conn: asyncpg.Connection) -> None:
    # rule X5: dropped bills take their sums with them, folded or not
    await _province(conn)
    await bill_totals.fold(conn, WINDOW)
    before = await _totals(conn)
    done = await retention.apply(conn, 13, date(2026, 11, 26), dry_run=False)
    assert done.dropped
    assert await conn.fetchval("SELECT min(month) FROM bills") == WINDOW
    assert done.totals_adjusted == 6
    assert "folded bill totals of 6 subscribers computed again from the months left" in "\n".join(
        done.lines()
    )
    # nothing folded is left: every folded month was dropped
    assert await _totals(conn) == await _recomputed(conn) == {}
    assert before  # there was something to take out


async def test_a_fold_waits_for_a_read_of_the_totals_and_the_evaluation_goes_on_without_it(
    conn: asyncpg.Connection, database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rule T1.4: a read holding the totals (a cache rebuild's long transaction) never sees
    # them half replaced; a fold that cannot wait is skipped, and the run reads more rows
    numbers = await _province(conn)
    await bill_totals.fold(conn, (MONTH - 20).first_day)
    reader = await db.connect(database_url)
    try:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            first = await snapshot.load_range(reader, "", 100, bills_from=snapshot.NO_MONTHS)
            monkeypatch.setattr(bill_totals, "FOLD_LOCK_TIMEOUT", "300ms")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await bill_totals.fold(conn, WINDOW)
            assert await bill_totals.through(conn) == (MONTH - 20).first_day  # rolled back
            summary = await evaluation.run(
                conn, POLICY, MONTH, date(2026, 11, 26), dsn=database_url, redis_url=redis_url, workers=1,
                show_progress=False,
            )  # fmt: skip
            again = await snapshot.load_range(reader, "", 100, bills_from=snapshot.NO_MONTHS)
        assert summary.fold is None and summary.fold_skipped and summary.evaluated == len(numbers)
        assert "bills not folded this month" in "\n".join(summary.lines())
        assert [s.arrears_months for s in again] == [s.arrears_months for s in first]
        assert await bill_totals.through(conn) == (MONTH - 20).first_day
        # the reader gone, the next fold goes through and reads agree with every row
        assert await bill_totals.fold(conn, WINDOW) is not None
        full = await snapshot.load_range(conn, "", 100)
        folded = await snapshot.load_range(conn, "", 100, bills_from=WINDOW)
        assert [s.arrears_months for s in folded] == [s.arrears_months for s in full]
        assert [s.history(MONTH) for s in folded] == [s.history(MONTH) for s in full]
    finally:
        await reader.close()


async def test_a_batch_read_while_the_fold_commits_sees_the_old_fold_or_the_new_one(
    conn: asyncpg.Connection, database_url: str
) -> None:
    # rule T1.4: the evaluation folds alongside its batches (its own connection): a batch
    # that began reading before the fold's swap keeps the old totals and the rows since the
    # old fold, one after it the new ones; both give what a read of every row gives
    await _province(conn)
    await bill_totals.fold(conn, (MONTH - 20).first_day)
    full = await snapshot.load_range(conn, "", 100)
    reader = await db.connect(database_url)
    try:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            before = await snapshot.load_range(reader, "", 100, bills_from=WINDOW)
            folding = asyncio.create_task(bill_totals.fold(conn, WINDOW))
            watcher = await db.connect(database_url)
            try:
                assert await _someone_waits_for_the_totals(watcher)  # the swap waits for the batch's read
            finally:
                await watcher.close()
            assert not folding.done()
            again = await snapshot.load_range(reader, "", 100, bills_from=WINDOW)
        assert await folding is not None
        after = await snapshot.load_range(reader, "", 100, bills_from=WINDOW)
    finally:
        await reader.close()
    assert {s.folded_through for s in before} == {int(MONTH - 20)}
    assert {s.folded_through for s in after} == {int(MONTH - BILL_WINDOW)}
    for read in (before, again, after):
        assert [s.arrears_months for s in read] == [s.arrears_months for s in full]
        assert [s.history(MONTH) for s in read] == [s.history(MONTH) for s in full]
        assert [owed_fen(s) for s in read] == [owed_fen(s) for s in full]


async def test_an_interrupted_run_rolls_its_fold_back_at_once(
    conn: asyncpg.Connection, database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rule T1.4: Ctrl-C (the run's task cancelled) while the fold waits for a long read of
    # the totals: the run stops while the read still holds them, the fold is rolled back,
    # nothing is left half done. (A run that waited for its fold would wait here for the
    # read, which ends only after the run: the wait below would time out.)
    monkeypatch.setattr(bill_totals, "FOLD_LOCK_TIMEOUT", "1h")
    await _province(conn)
    await bill_totals.fold(conn, (MONTH - 20).first_day)
    reader = await db.connect(database_url)
    runner = await db.connect(database_url)
    try:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            await reader.execute("LOCK TABLE bill_totals IN ACCESS SHARE MODE")
            running = asyncio.create_task(
                evaluation.run(
                    runner, POLICY, MONTH, date(2026, 11, 26), dsn=database_url, redis_url=redis_url,
                    workers=1, show_progress=False,
                )
            )  # fmt: skip
            assert await _someone_waits_for_the_totals(conn)  # the fold (and the batch behind it)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(running, 60)  # (a TimeoutError instead: the run waited)
        assert await bill_totals.through(conn) == (MONTH - 20).first_day
        assert await conn.fetchval("SELECT to_regclass('bill_totals_next')") is None
        assert await _someone_waits_for_the_totals(conn, waits=False)  # the fold's session is gone
    finally:
        await reader.close()
        runner.terminate()


async def test_an_import_of_a_folded_month_is_merged_and_kept_in_the_totals(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    # rule X5: a month before the fold, new to callgate (no partition yet), is not attached
    # whole (no trigger would see it) but merged through the parent, and counted
    numbers = await _province(conn)
    await bill_totals.fold(conn, WINDOW)
    path = tmp_path / "old.csv"
    rows = [f"{n},2023-05,12.00,2.00" for n in numbers]
    path.write_text("msisdn,month,billed_yuan,paid_yuan\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = await import_file(conn, "bills", path, date(2026, 11, 26), show_progress=False)
    assert result.inserted == len(numbers)
    assert await conn.fetchval("SELECT count(*) FROM bills_2023_05") == len(numbers)
    assert await _totals(conn) == await _recomputed(conn) and len(await _totals(conn)) == len(numbers)
    # a month not folded yet is still attached whole
    path.write_text(
        "msisdn,month,billed_yuan,paid_yuan\n"
        + "\n".join(f"{n},2026-11,12.00,12.00" for n in numbers)
        + "\n",
        encoding="utf-8",
    )
    await import_file(conn, "bills", path, date(2026, 12, 20), show_progress=False)
    assert await _totals(conn) == await _recomputed(conn)


async def test_two_writers_correcting_one_subscriber_at_once_both_land(
    conn: asyncpg.Connection, database_url: str
) -> None:
    # rule T4.1: concurrent corrections of folded months of the same subscriber
    numbers = await _province(conn)
    await bill_totals.fold(conn, WINDOW)
    first, second = await db.connect(database_url), await db.connect(database_url)
    try:
        tx1, tx2 = first.transaction(), second.transaction()
        await tx1.start()
        await tx2.start()
        await first.execute(
            "UPDATE bills SET paid_fen = 0 WHERE msisdn = $1 AND month = '2024-01-01'", numbers[0]
        )
        waiting = asyncio.ensure_future(
            second.execute(
                "UPDATE bills SET paid_fen = 1 WHERE msisdn = $1 AND month = '2024-02-01'", numbers[0]
            )
        )
        await asyncio.sleep(0.3)
        await tx1.commit()
        await waiting
        await tx2.commit()
    finally:
        await first.close()
        await second.close()
    assert await _totals(conn) == await _recomputed(conn)
