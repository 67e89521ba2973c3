"""The snapshot leaves superseded assignment rows out (gateway/stores/queries/snapshot.py), so a
subscriber's rows stay few as evaluated months pile up. Leaving them out must change
nothing the rows decide: the tier in force on every day from today on (T1.9, T1.11), the
engine's `current` (the latest evaluation before the month) and the legacy card.

Checked over hundreds of random histories against real PostgreSQL: the pruned snapshot
and the full rows give the same answers."""

from __future__ import annotations

import random
from datetime import date, timedelta

import asyncpg

from entitlements.model import Assignment
from entitlements.months import Month
from entitlements.tiers import tier_in_force
from gateway.stores.queries import snapshot
from tests.gateway import province

NUMBER = "18612349999"
STAR_LEVELS = ("five_star", "four_star", "three_star", "two_star", "one_star", "unrated")
CARD_LEVELS = ("diamond", "gold", "silver", "none")


def random_history(rng: random.Random) -> list[tuple[object, ...]]:
    """Evaluation rows of unicom-2015 for some consecutive-ish months, and a few legacy cards."""
    rows: list[tuple[object, ...]] = []
    first = int(Month.parse("2026-01")) + rng.randrange(6)
    months = sorted(rng.sample(range(first, first + 14), rng.randrange(1, 10)))
    for m in months:
        month = Month(m)
        effective = month.first_day + timedelta(days=rng.choice((0, 5, 25, 31, 62)))
        until = None if rng.random() < 0.15 else effective + timedelta(days=rng.choice((0, 20, 90, 300, 400)))
        rows.append(
            ("unicom-2015", month.first_day, "star", rng.choice(STAR_LEVELS), effective, until, "evaluation")
        )
    for m in sorted(rng.sample(range(first - 12, first + 12), rng.randrange(0, 3))):
        month = Month(m)
        effective = month.day(rng.choice((1, 5, 8)))
        until = effective + timedelta(days=rng.choice((30, 200, 500)))
        rows.append(
            ("unicom-vip", month.first_day, "vip_card", rng.choice(CARD_LEVELS), effective, until, "import")
        )
    return rows


def full_assignments(rows: list[tuple[object, ...]]) -> list[tuple[date, Assignment]]:
    built: list[tuple[date, Assignment]] = [
        (evaluated, Assignment(scheme, level, policy, effective, until, None, source))  # type: ignore[misc, arg-type]
        for policy, evaluated, scheme, level, effective, until, source in rows
    ]
    return sorted(built, key=lambda x: (x[0], x[1].effective_from))


async def test_pruned_rows_decide_exactly_what_all_rows_decide(conn: asyncpg.Connection) -> None:
    await province.branches(conn)
    await province.subscriber(conn, NUMBER)
    rng = random.Random(20261126)
    pruned_total = full_total = 0
    for _ in range(300):
        rows = random_history(rng)
        today = date(2026, 1, 1) + timedelta(days=rng.randrange(600))
        before = rng.choice((None, Month.of(today).first_day, (Month.of(today) + 1).first_day))
        await conn.execute("DELETE FROM tier_assignments")
        await conn.executemany(
            """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
                   change, effective_from, valid_until, source)
               VALUES ($1, $2, $3, 'test', $4, $5, 'new', $6, $7, $8)""",
            [(NUMBER, *row) for row in rows],
        )
        (snap,) = await snapshot.load_range(conn, "", 10, None, today, before, history=True)
        full = full_assignments(rows)
        kept = [a for _, a in snap.assignments]
        everything = [a for _, a in full]
        pruned_total += len(kept)
        full_total += len(everything)
        # rule T1.9 rule T1.11: the tier in force on every day that matters from today on
        days = (
            {today}
            | {a.effective_from for a in everything}
            | {a.valid_until + timedelta(days=1) for a in everything if a.valid_until}
        )
        for day in sorted(d for d in days if d >= today):
            assert tier_in_force(kept, day) == tier_in_force(everything, day), (rows, today, day)
        # the engine's current for the month being evaluated, and the legacy card
        month = Month.of(before) if before else Month.of(today) + 1
        latest = None
        for evaluated, a in full:
            if a.source == "evaluation" and evaluated < month.first_day:
                latest = a
        assert snap.previous("unicom-2015", month) == latest, (rows, today, before)
        cards = [a for _, a in full if a.source == "import"]
        assert snap.legacy_card("vip_card") == (cards[-1] if cards else None)
    assert pruned_total < full_total, (pruned_total, full_total)  # some rows were left out


async def test_a_level_held_month_after_month_reads_as_one_row(conn: asyncpg.Connection) -> None:
    await province.branches(conn)
    await province.subscriber(conn, NUMBER)
    # rule T1.9: held within validity, every month writes a row with the same last day
    await conn.executemany(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, source)
           VALUES ($1, 'unicom-2015', $2, 'test', 'star', 'four_star', 'held', $2, '2027-11-30', 'evaluation')""",
        [(NUMBER, Month.parse(f"2026-{m:02d}").first_day) for m in range(1, 13)],
    )
    (snap,) = await snapshot.load_range(conn, "", 10, None, date(2026, 12, 20), history=True)
    assert [evaluated for evaluated, _ in snap.assignments] == [date(2026, 12, 1)]
    # evaluating 2026-12 again (a resumed run): the rows of 2026-12 hide nothing earlier
    (snap,) = await snapshot.load_range(
        conn, "", 10, None, date(2026, 12, 20), date(2026, 12, 1), history=True
    )
    assert [evaluated for evaluated, _ in snap.assignments] == [date(2026, 11, 1), date(2026, 12, 1)]
    assert snap.previous("unicom-2015", Month.parse("2026-12")) == snap.assignments[0][1]


async def test_serving_state_decides_what_the_whole_history_decides(conn: asyncpg.Connection) -> None:
    """Issue 22.1: the serving state (sql/051, sql/054), kept by the history's triggers as
    rows are written month after month, gives the answers of the whole history on every
    day from the latest evaluated month on, for a new month's run; a (dry) run of the
    latest evaluated month reads the history, as the evaluation does."""
    await province.branches(conn)
    await province.subscriber(conn, NUMBER)
    rng = random.Random(20261206)
    state_total = full_total = 0
    for _ in range(300):
        rows = random_history(rng)
        await conn.execute("DELETE FROM tier_assignments")
        await conn.execute("DELETE FROM tier_serving")
        for row in rows:  # one writer statement per month, as the evaluation and imports write
            await conn.execute(
                """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme,
                       level, change, effective_from, valid_until, source)
                   VALUES ($1, $2, $3, 'test', $4, $5, 'new', $6, $7, $8)""",
                NUMBER,
                *row,
            )
        latest = max(Month.of(r[1]) for r in rows)  # type: ignore[arg-type]
        evaluated = max(Month.of(r[1]) for r in rows if r[6] == "evaluation")  # type: ignore[arg-type]
        today = latest.first_day + timedelta(days=rng.randrange(400))
        before = rng.choice((None, evaluated.first_day, (evaluated + 1).first_day))
        if before is not None and before > today:
            before = None
        # the evaluation's rule (dry_run): a run of an evaluated month reads the history
        history = before is not None and before <= evaluated.first_day
        (snap,) = await snapshot.load_range(conn, "", 10, None, today, before, history=history)
        cutoff = (Month.of(today) - snapshot.HISTORY_MONTHS).first_day  # too old to serve: not read
        full = [(when, a) for when, a in full_assignments(rows) if when >= cutoff]
        kept = [a for _, a in snap.assignments]
        everything = [a for _, a in full]
        state_total += await conn.fetchval("SELECT count(*) FROM tier_serving")
        full_total += len(everything)
        # rule T1.9 rule T1.11: the tier in force on every day that matters from today on
        days = (
            {today}
            | {a.effective_from for a in everything}
            | {a.valid_until + timedelta(days=1) for a in everything if a.valid_until}
        )
        for day in sorted(d for d in days if d >= today):
            assert tier_in_force(kept, day) == tier_in_force(everything, day), (rows, today, day)
        month = Month.of(before) if before else Month.of(today) + 1
        previous = None
        for when, a in full:
            if a.source == "evaluation" and when < month.first_day:
                previous = a
        assert snap.previous("unicom-2015", month) == previous, (rows, today, before)
        cards = [a for _, a in full if a.source == "import"]
        assert snap.legacy_card("vip_card") == (cards[-1] if cards else None)
    assert state_total < full_total, (state_total, full_total)  # the state holds fewer rows


async def test_serving_state_stays_two_rows_however_long_the_history(conn: asyncpg.Connection) -> None:
    """Issue 22.1: a level held for 24 months keeps two rows in the serving state (the level
    in force and the latest, which takes effect next month); the history keeps all 24; the
    lookup's miss path reads two."""
    await province.branches(conn)
    await province.subscriber(conn, NUMBER)
    for m in range(24):  # rule T1.9: each month's evaluation, effective the next month, valid a year
        month = Month.parse("2025-01") + m
        await conn.execute(
            """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
                   change, effective_from, valid_until, source)
               VALUES ($1, 'unicom-2015', $2, 'test', 'star', 'four_star', 'held', $3, $4, 'evaluation')""",
            NUMBER,
            month.first_day,
            (month + 1).first_day,
            (month + 13).first_day - timedelta(days=1),
        )
    assert await conn.fetchval("SELECT count(*) FROM tier_assignments") == 24
    kept = await conn.fetch("SELECT evaluated_month FROM tier_serving ORDER BY 1")
    assert [r["evaluated_month"] for r in kept] == [date(2026, 11, 1), date(2026, 12, 1)]
    single = await snapshot.load_single(conn, NUMBER, date(2026, 12, 20))
    assert single is not None
    assert [when for when, _ in single.assignments] == [date(2026, 11, 1), date(2026, 12, 1)]
    assert tier_in_force([a for _, a in single.assignments], date(2026, 12, 20)) is not None


async def test_a_level_held_with_the_same_dates_keeps_one_row(conn: asyncpg.Connection) -> None:
    """Issue 22.1 (sql/054): a level held month after month with the same first and last day
    (held within its validity) keeps one row in the serving state, the latest; a dry run
    of that month reads the level held before it from the history."""
    await province.branches(conn)
    await province.subscriber(conn, NUMBER)
    for m in range(12):  # rule T1.9: held within validity, every month the same dates
        month = Month.parse("2026-01") + m
        await conn.execute(
            """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
                   change, effective_from, valid_until, source)
               VALUES ($1, 'unicom-2015', $2, 'test', 'star', 'four_star', 'held', '2025-12-09',
                       '2026-11-30', 'evaluation')""",
            NUMBER,
            month.first_day,
        )
    kept = await conn.fetch("SELECT evaluated_month FROM tier_serving")
    assert [r["evaluated_month"] for r in kept] == [date(2026, 12, 1)]
    december = Month.parse("2026-12")
    (snap,) = await snapshot.load_range(conn, "", 10, None, date(2026, 12, 20), december.first_day)
    assert snap.previous("unicom-2015", december) is None  # the serving state alone: pruned
    (snap,) = await snapshot.load_range(
        conn, "", 10, None, date(2026, 12, 20), december.first_day, history=True
    )
    held = snap.previous("unicom-2015", december)
    assert held is not None and held.level == "four_star" and held.valid_until == date(2026, 11, 30)


async def test_subscribers_with_equal_rows_share_one_build_of_them(conn: asyncpg.Connection) -> None:
    """Issue 22.1: a batch builds each combination of stored rows once (snapshot._assemble);
    the snapshots holding it share it, and a subscriber whose rows differ gets its own."""
    await province.branches(conn)
    numbers = ("18612340001", "18612340002", "18612340003")
    for number in numbers:
        await province.subscriber(conn, number)
    rows = {  # rule T1.9: a level from the 1st of the next month; the third number holds another
        numbers[0]: "four_star",
        numbers[1]: "four_star",
        numbers[2]: "two_star",
    }
    for number, level in rows.items():
        for evaluated, effective in (
            (date(2026, 10, 1), date(2026, 11, 1)),
            (date(2026, 11, 1), date(2026, 12, 1)),
        ):
            await conn.execute(
                """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme,
                       level, change, effective_from, valid_until, source)
                   VALUES ($1, 'unicom-2015', $2, 'test', 'star', $3, 'new', $4, NULL, 'evaluation')""",
                number,
                evaluated,
                level,
                effective,
            )
    first, second, third = await snapshot.load_range(
        conn, "", 10, None, date(2026, 11, 20), date(2026, 12, 1)
    )
    expected = [
        (
            date(2026, 10, 1),
            Assignment("star", "four_star", "unicom-2015", date(2026, 11, 1), None, None, "evaluation"),
        ),
        (
            date(2026, 11, 1),
            Assignment("star", "four_star", "unicom-2015", date(2026, 12, 1), None, None, "evaluation"),
        ),
    ]
    assert list(first.assignments) == expected
    assert second.assignments is first.assignments  # built once, shared
    assert [a.level for _, a in third.assignments] == ["two_star", "two_star"]
    assert third.assignments is not first.assignments
    assert first.assignments[0][1] is not first.assignments[1][1]  # each row its own object
