"""The subscriber snapshot: one read of everything the engine needs about a subscriber —
facts, bills, stored assignments, arrears and reactivation history, unspent points — for
one number (lookup miss, reactivation) or for a key range of numbers (evaluation, cache
rebuild).

Six set-based queries per batch, merged in Python by number: no per-row round trips.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

import asyncpg

from entitlements.arrears import arrears_months_folded
from entitlements.immutable import immutable
from entitlements.model import Assignment, BillHistory, Subscriber
from entitlements.months import Month
from entitlements.points import Holding

OPEN_ORDER_STATUSES = ("new", "dispatched", "overdue", "resuspended")
#: The bill months an evaluation of month M reads month by month: M−13 … M−1 (T1.4's 12
#: months and the one before them, `Snapshot.history`).
BILL_WINDOW = 13
#: `load_range(bills_from=NO_MONTHS)`: the caller needs no bill month by month (the cache
#: records: only the months in arrears).
NO_MONTHS = date.max
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@immutable
class Snapshot:
    """One subscriber as the engine sees it."""

    subscriber: Subscriber
    city_code: str
    county_code: str | None
    manager_id: int | None
    bill_months: tuple[int, ...]  # Month values as plain ints, ascending
    billed_fen: tuple[int, ...]
    paid_fen: tuple[int, ...]  # per bill month: the bill's paid amount plus payments made that month
    payments_outside_fen: int  # payments made in months without a bill row
    assignments: tuple[tuple[date, Assignment], ...]  # (evaluated month's first day, assignment)
    arrears_months: int
    last_grant_month: Month | None
    grants_in_last_month: int
    unpaid_grant: bool
    points: Holding | None = None  # P1–P3: the unspent points by expiry (None: no points ledger)
    # A batch read from folded bills (sql/053): the bill rows start at `folded_through`
    # (a Month value), and the months before it are only their sums. None: every row read.
    folded_through: int | None = None
    folded_billed_fen: int = 0
    folded_paid_fen: int = 0

    def history(self, month: Month, length: int = BILL_WINDOW) -> BillHistory:
        """The `length` months before `month` (M−length … M−1) as the engine's BillHistory."""
        end = int(month) - 1
        start = end - (length - 1)
        if self.folded_through is not None and start < self.folded_through:
            raise ValueError(
                f"bill months before {Month(self.folded_through)} are folded into totals: "
                f"this snapshot cannot give the months from {Month(start)} (read it with load_one)"
            )
        months = self.bill_months
        lo, hi = bisect_left(months, start), bisect_right(months, end)
        cumulative = sum(self.paid_fen[:hi]) + self.payments_outside_fen + self.folded_paid_fen
        if hi - lo == length:  # the usual case: a bill row for every month of the window
            return BillHistory(Month(end), self.billed_fen[lo:hi], self.paid_fen[lo:hi], cumulative)
        n = hi - lo
        if n == 0 or months[hi - 1] - months[lo] == n - 1:  # rows for a run of months, or none:
            head: tuple[None, ...] = (None,) * (months[lo] - start if n else length)  # pad the ends
            tail: tuple[None, ...] = (None,) * (end - months[hi - 1] if n else 0)
            return BillHistory(
                Month(end),
                head + self.billed_fen[lo:hi] + tail,
                head + self.paid_fen[lo:hi] + tail,
                cumulative,
            )
        billed: list[int | None] = [None] * length
        paid: list[int | None] = [None] * length
        for i in range(lo, hi):
            billed[months[i] - start] = self.billed_fen[i]
            paid[months[i] - start] = self.paid_fen[i]
        return BillHistory(Month(end), tuple(billed), tuple(paid), cumulative)

    def previous(self, policy: str, month: Month) -> Assignment | None:
        """The assignment of `policy` from the latest run before `month` (the engine's `current`)."""
        first = month.first_day
        found = None
        for evaluated, a in self.assignments:
            if a.policy == policy and a.source == "evaluation" and evaluated < first:
                found = a  # assignments are ordered by evaluated month
        return found

    def legacy_card(self, scheme: str) -> Assignment | None:
        """The latest imported card of the legacy scheme (T1.11)."""
        found = None
        for _, a in self.assignments:
            if a.source == "import" and a.scheme == scheme:
                found = a
        return found

    def serving(self, policy: str, legacy_scheme: str | None) -> list[Assignment]:
        """The assignments that decide what a caller gets: this policy's and legacy cards."""
        return [
            a
            for _, a in self.assignments
            if a.policy == policy
            or (legacy_scheme is not None and a.source == "import" and a.scheme == legacy_scheme)
        ]


_SUBSCRIBERS = """
    SELECT msisdn, service_type, network, payment_mode, coalesce(plan_code, '') AS plan_code,
           coalesce(brand, '') AS brand, status, joined_on, flags, lucky_class, contract_plan,
           suspensions, birthday, city_code, county_code, manager_id
    FROM subscribers
"""
# date_part (double) is much cheaper than extract (numeric) over a million rows.
_MONTH_INT = "(date_part('year', {0})::int * 12 + date_part('month', {0})::int - 1)"
_BILLS = f"""
    SELECT msisdn, array_agg({_MONTH_INT.format("month")} ORDER BY month) AS months,
           array_agg(billed_fen ORDER BY month) AS billed, array_agg(paid_fen ORDER BY month) AS paid
    FROM bills
"""  # noqa: S608 - constant SQL fragments
# A folded read (sql/053): the bill rows from the fold's month on ($3), and the totals of
# the months before it.
_BILLS_FROM = f"""
    SELECT msisdn, array_agg({_MONTH_INT.format("month")} ORDER BY month) AS months,
           array_agg(billed_fen ORDER BY month) AS billed, array_agg(paid_fen ORDER BY month) AS paid
    FROM bills
    WHERE msisdn > $1 AND msisdn <= $2 AND month >= $3
    GROUP BY msisdn
"""  # noqa: S608 - constant SQL fragments
_TOTALS = """
    SELECT msisdn, billed_fen, paid_fen, unpaid_upto FROM bill_totals WHERE msisdn > $1 AND msisdn <= $2
"""
_PAYMENTS = f"""
    SELECT msisdn, {_MONTH_INT.format("(paid_at AT TIME ZONE 'Asia/Shanghai')")} AS month,
           sum(amount_fen)::bigint AS amount
    FROM payments
"""  # noqa: S608 - constant SQL fragments
# Assignments last at most ~13 months: older rows can neither serve nor be re-evaluated.
HISTORY_MONTHS = 26
# Where the assignments are read from: the serving state (sql/051, sql/054: the few rows
# per subscriber that can still decide something from today on, kept by triggers on the
# history), or the history itself (a run of a month older than the latest evaluated one,
# or a dry run of an evaluated month, needs rows that month's writes or later ones have
# pruned from the serving state: the level held before it). `load_range(history=...)`
# chooses; `load_many` and `load_single` read the serving state.
#
# Read from the history, superseded rows are left out, so a subscriber's rows stay few
# however many months pile up. Row A is superseded when the next row of its policy (B,
# evaluated later, same source and scheme, evaluated before `$before` when given) takes
# effect no earlier than A, is in effect by `$today` and lasts at least as long: on every
# day from today on, A in force implies B in force, and B wins (T1.9: the most recently
# effective). What serves a caller from today on is unchanged; the latest row of each
# policy and source — the engine's `current` and the legacy card (T1.11) — is never left
# out. ($1, $2: the number range.)
_ASSIGNMENTS = """
    SELECT msisdn, evaluated_month, scheme, level, policy, effective_from, valid_until, since, source
    FROM (
        SELECT *, lead(evaluated_month) OVER w AS n_month, lead(effective_from) OVER w AS n_from,
               lead(valid_until) OVER w AS n_until, lead(source) OVER w AS n_source,
               lead(scheme) OVER w AS n_scheme
        FROM tier_assignments
        WHERE {where} AND evaluated_month >= $3
        WINDOW w AS (PARTITION BY msisdn, policy ORDER BY evaluated_month)
    ) a
    WHERE NOT coalesce(
        n_month < coalesce($5::date, 'infinity') AND n_source = source AND n_scheme = scheme
        AND n_from >= effective_from AND n_from <= $4::date
        AND (n_until IS NULL OR n_until >= valid_until), false)
"""
# The serving state needs no such filter: its triggers leave no row superseded as of the
# latest evaluated month (sql/051, sql/054), and one superseded since then (its successor
# took effect after that month's first day) is harmless, since its successor wins on
# every day it would serve (T1.9). Read as it is, the state costs a plain index range
# scan: 1.17 s for a 1M province's ~1.1 million rows on one connection, against 1.70 s
# through the window. ($1, $2: the number range, or $1 the numbers and $2 unused.)
_SERVING_ROWS = """
    SELECT msisdn, evaluated_month, scheme, level, policy, effective_from, valid_until, since, source
    FROM tier_serving
    WHERE {where} AND evaluated_month >= $3
"""
_GRANTS = f"""
    SELECT DISTINCT ON (msisdn) msisdn, {_MONTH_INT.format("grant_month")} AS grant_month,
           count(*) OVER (PARTITION BY msisdn, grant_month) AS n
    FROM reactivations
"""  # noqa: S608 - constant SQL fragments
_OPEN_ORDERS = """
    SELECT DISTINCT msisdn FROM work_orders
"""
# P1–P3: per subscriber with a points ledger, the threshold day and the unspent points of
# the grants counting on the day, by expiry day ({day}: the parameter holding it; NULL:
# every grant). Batches group their grants in one scan (_POINTS); the lookup's miss path
# reads one subscriber's (_POINT_BUCKETS, in _ONE).
_POINT_BUCKETS = """
    SELECT expires_on, sum(remaining)::bigint AS total FROM points_grants
    WHERE msisdn = {who} AND remaining > 0 AND granted_on <= coalesce({day}::date, 'infinity')
      AND (expires_on IS NULL OR expires_on >= coalesce({day}::date, '-infinity'))
    GROUP BY expires_on
"""
_POINTS = """
    SELECT a.msisdn, a.threshold_reached_on,
           array_agg(g.expires_on ORDER BY g.expires_on NULLS LAST) FILTER (WHERE g.total IS NOT NULL),
           array_agg(g.total ORDER BY g.expires_on NULLS LAST) FILTER (WHERE g.total IS NOT NULL)
    FROM points_accounts a
    LEFT JOIN (
        SELECT msisdn, expires_on, sum(remaining)::bigint AS total FROM points_grants
        WHERE {where} AND remaining > 0 AND granted_on <= coalesce({day}::date, 'infinity')
          AND (expires_on IS NULL OR expires_on >= coalesce({day}::date, '-infinity'))
        GROUP BY msisdn, expires_on) g USING (msisdn)
"""


async def _fetch(conn: Conn, base: str, where: str, order: str, *args: Any) -> list[asyncpg.Record]:
    return await conn.fetch(f"{base} WHERE {where} {order}", *args)


Row = asyncpg.Record | tuple[Any, ...]  # a record, or a tuple of its values in query order


def _held(rows: list[tuple[Any, ...]]) -> tuple[tuple[date, Assignment], ...]:
    """A subscriber's assignments from its rows' values after the number (the assignment
    queries' column order), ordered by evaluated month, then first day (T1.9's latest wins)."""
    if len(rows) > 1:
        rows = sorted(rows, key=itemgetter(0, 4))  # stable: ties keep the rows' order
    return tuple(
        (evaluated, Assignment(scheme, level, policy, effective_from, valid_until, since, source))
        for evaluated, scheme, level, policy, effective_from, valid_until, since, source in rows
    )


def _assemble(
    subs: Sequence[Row],
    bills: Sequence[Row],
    payments: Sequence[Row],
    assignments: Sequence[Row],
    grants: Sequence[Row],
    open_orders: Sequence[Row],
    points: Sequence[Row] = (),
    folded: tuple[int, dict[str, tuple[int, int, Sequence[int]]]] | None = None,
) -> list[Snapshot]:
    """`folded`: for a folded read, the fold's month (a Month value) and the totals by
    number: billed, paid and the running bill totals the folded payments do not reach."""
    # The evaluation assembles a million of these a month: rows are unpacked by position
    # (the queries' column order), plain loops, no per-row lambdas.
    bills_by = {r[0]: r for r in bills}
    pay_by: dict[str, dict[int, int]] = defaultdict(dict)
    for msisdn, month, amount in payments:
        pay_by[msisdn][month] = amount
    # A subscriber's stored assignments, as their rows' values after the number: most of a
    # province holds one of a few hundred combinations (a level and the run's dates), so
    # each combination is built once a batch and its tuple shared by the snapshots holding
    # it (the state's part of assembling 400,000 subscribers of a renewal month, ~2 rows
    # each: 0.64–0.74 s → 0.46–0.53 s). Nothing compares assignments of two snapshots by
    # identity; within one snapshot each row is still its own object.
    rows_by: dict[str, list[tuple[Any, ...]]] = {}
    for row in assignments:
        found = rows_by.get(row[0])
        if found is None:
            rows_by[row[0]] = [tuple(row[1:])]
        else:
            found.append(tuple(row[1:]))
    held_by: dict[tuple[tuple[Any, ...], ...], tuple[tuple[date, Assignment], ...]] = {}
    grants_by = {r[0]: r for r in grants}
    unpaid = {r[0] for r in open_orders}
    points_by = {
        msisdn: Holding(reached, tuple(zip(expiries or (), totals or (), strict=True)))
        for msisdn, reached, expiries, totals in points
    }
    empty: tuple[int, ...] = ()
    through, totals = folded if folded is not None else (None, {})
    nothing: tuple[int, int, Sequence[int]] = (0, 0, ())
    out = []
    for (
        msisdn, service_type, network, payment_mode, plan_code, brand, status, joined_on, flags,
        lucky_class, contract_plan, suspensions, birthday, city_code, county_code, manager_id,
    ) in subs:  # fmt: skip
        b = bills_by.get(msisdn)
        if b is None:
            months = billed = paid = empty
        else:
            months, billed, paid = tuple(b[1]), tuple(b[2]), tuple(b[3])
        outside = 0
        extra = pay_by.get(msisdn)
        if extra:
            paid_bills = list(paid)
            position = {m: i for i, m in enumerate(months)}
            for m, amount in extra.items():
                i = position.get(m)
                if i is None:
                    outside += amount
                else:
                    paid_bills[i] += amount
            paid = tuple(paid_bills)
        rows = rows_by.get(msisdn)
        if rows is None:
            held: tuple[tuple[date, Assignment], ...] = ()
        else:
            combination = tuple(rows)
            found_held = held_by.get(combination)
            if found_held is None:
                found_held = held_by[combination] = _held(rows)
            held = found_held
        g = grants_by.get(msisdn)
        folded_billed, folded_paid, unpaid_upto = totals.get(msisdn, nothing)
        arrears = arrears_months_folded(billed, sum(paid) + outside + folded_paid, folded_billed, unpaid_upto)
        out.append(
            Snapshot(
                Subscriber(
                    msisdn,
                    service_type,
                    network,
                    payment_mode,
                    plan_code,
                    brand,
                    status,
                    joined_on,
                    frozenset(flags),
                    lucky_class,
                    contract_plan,
                    suspensions,
                    birthday,
                ),
                city_code,
                county_code,
                manager_id,
                months,
                billed,
                paid,
                outside,
                held,
                arrears,
                Month(g[1]) if g else None,
                int(g[2]) if g else 0,
                msisdn in unpaid,
                points_by.get(msisdn),
                through,
                folded_billed,
                folded_paid,
            )
        )
    return out


async def load_one(conn: Conn, msisdn: str, today: date | None = None) -> Snapshot | None:
    """The snapshot of one number, or None when it is not a subscriber."""
    found = await load_many(conn, [msisdn], today)
    return found[0] if found else None


def _cutoff(today: date | None) -> date:
    return date.min if today is None else (Month.of(today) - HISTORY_MONTHS).first_day


async def load_many(conn: Conn, msisdns: Sequence[str], today: date | None = None) -> list[Snapshot]:
    """Snapshots of the given numbers (unknown numbers are left out)."""
    where = "msisdn = ANY($1::text[])"
    numbers = list(msisdns)
    subs = await _fetch(conn, _SUBSCRIBERS, where, "ORDER BY msisdn", numbers)
    if not subs:
        return []
    return _assemble(
        subs,
        await _fetch(conn, _BILLS, where, "GROUP BY msisdn", numbers),
        await _fetch(conn, _PAYMENTS, where, "GROUP BY 1, 2", numbers),
        await conn.fetch(
            _SERVING_ROWS.format(where="msisdn = ANY($1::text[]) AND $2::text IS NULL"),  # $2: unused
            numbers,
            None,
            _cutoff(today),
        ),
        await _fetch(conn, _GRANTS, where, "ORDER BY msisdn, grant_month DESC", numbers),
        await _fetch(
            conn,
            _OPEN_ORDERS,
            where + " AND status = ANY($2::text[])",
            "",
            numbers,
            list(OPEN_ORDER_STATUSES),
        ),
        await _fetch(
            conn, _POINTS.format(where=where, day="$2"), "a." + where, "GROUP BY a.msisdn", numbers, today
        ),
    )


async def load_range(
    conn: Conn,
    after: str,
    limit: int,
    upto: str | None = None,
    today: date | None = None,
    before: date | None = None,
    *,
    history: bool = False,
    bills_from: date | None = None,
) -> list[Snapshot]:
    """Up to `limit` snapshots of the numbers after `after` (and not after `upto`), in number order.

    `history`: read the assignments from the tier history instead of the serving state (a
    run of a month older than the latest evaluated one, or a dry run of an evaluated
    month); `before` then gives the first day of the month being evaluated (rows of that
    month or later never hide earlier ones). The serving state is read as it is, and
    `before` does not apply to it.
    `bills_from`: the first bill month the caller needs month by month (an evaluation: its
    window's first; NO_MONTHS: none, only sums and arrears). When the bills are folded no
    later than that (sql/053), the rows from the fold on and the totals before it are read
    instead of every row; the snapshots give the same sums and months in arrears, and
    `Snapshot.history` no earlier months. Outside a transaction the reads share one
    repeatable-read snapshot; inside one, the caller's, which must not have read yet when
    it first reads folded bills (the totals are locked before its first read).
    """
    if bills_from is None or conn.is_in_transaction():  # (the caller's transaction: its snapshot)
        return await _load_range(conn, after, limit, upto, today, before, history, bills_from)
    # One snapshot for the fold's month, the rows and the totals (a fold may commit between).
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _load_range(conn, after, limit, upto, today, before, history, bills_from)


async def _load_range(
    conn: Conn,
    after: str,
    limit: int,
    upto: str | None,
    today: date | None,
    before: date | None,
    history: bool,
    bills_from: date | None,
) -> list[Snapshot]:
    if bills_from is not None:
        # Before the snapshot is taken: a fold replaces bill_totals by a new table, whose
        # rows a snapshot older than the fold would not see. Held until the transaction
        # ends, the lock makes a fold wait for this read (or this read for the fold).
        await conn.execute("LOCK TABLE bill_totals IN ACCESS SHARE MODE")
    subs = await _fetch(
        conn,
        _SUBSCRIBERS,
        "msisdn > $1 AND ($3::text IS NULL OR msisdn <= $3)",
        "ORDER BY msisdn LIMIT $2",
        after,
        limit,
        upto,
    )
    if not subs:
        return []
    lo, hi = after, subs[-1]["msisdn"]
    where = "msisdn > $1 AND msisdn <= $2"
    through = None
    if bills_from is not None:
        through = await conn.fetchval("SELECT through FROM bill_totals_through")
        if through is not None and through > bills_from:
            through = None  # folded past what the caller needs: every row
    folded = None
    if through is None:
        bills = await _fetch(conn, _BILLS, where, "GROUP BY msisdn", lo, hi)
    else:
        bills = await conn.fetch(_BILLS_FROM, lo, hi, through)
        totals = {r[0]: (r[1], r[2], r[3]) for r in await conn.fetch(_TOTALS, lo, hi)}
        folded = (int(Month.of(through)), totals)
    return _assemble(
        subs,
        bills,
        await _fetch(conn, _PAYMENTS, where, "GROUP BY 1, 2", lo, hi),
        await (
            conn.fetch(
                _ASSIGNMENTS.format(where=where),
                lo,
                hi,
                _cutoff(today),
                today,
                before,
            )
            if history
            else conn.fetch(_SERVING_ROWS.format(where=where), lo, hi, _cutoff(today))
        ),
        await _fetch(conn, _GRANTS, where, "ORDER BY msisdn, grant_month DESC", lo, hi),
        await _fetch(
            conn, _OPEN_ORDERS, where + " AND status = ANY($3::text[])", "", lo, hi, list(OPEN_ORDER_STATUSES)
        ),
        await _fetch(
            conn,
            _POINTS.format(where=where, day="$3"),
            "a.msisdn > $1 AND a.msisdn <= $2",
            "GROUP BY a.msisdn",
            lo,
            hi,
            today,
        ),
        folded,
    )


async def iterate(
    conn: Conn,
    after: str = "",
    batch: int = 20_000,
    today: date | None = None,
    bills_from: date | None = None,
) -> AsyncIterator[list[Snapshot]]:
    """Every subscriber after `after`, in number-ordered batches (`bills_from`: see load_range)."""
    while True:
        chunk = await load_range(conn, after, batch, today=today, bills_from=bills_from)
        if not chunk:
            return
        yield chunk
        after = chunk[-1].subscriber.msisdn


_ONE = f"""
SELECT s.msisdn, s.service_type, s.network, s.payment_mode, coalesce(s.plan_code, '') AS plan_code,
       coalesce(s.brand, '') AS brand, s.status, s.joined_on, s.flags, s.lucky_class, s.contract_plan,
       s.suspensions, s.birthday, s.city_code, s.county_code, s.manager_id,
       b.months, b.billed, b.paid, p.pay_months, p.pay_amounts,
       a.evaluated, a.schemes, a.levels, a.policies, a.froms, a.untils, a.sinces, a.sources,
       g.grant_month, g.n,
       EXISTS (SELECT 1 FROM work_orders w WHERE w.msisdn = s.msisdn AND w.status = ANY($3::text[]))
           AS unpaid_grant,
       pa.msisdn IS NOT NULL AS has_points, pa.threshold_reached_on, pt.expiries, pt.totals
FROM subscribers s
LEFT JOIN LATERAL (
    SELECT array_agg({_MONTH_INT.format("month")} ORDER BY month) AS months,
           array_agg(billed_fen ORDER BY month) AS billed, array_agg(paid_fen ORDER BY month) AS paid
    FROM bills WHERE msisdn = s.msisdn) b ON true
LEFT JOIN LATERAL (
    SELECT array_agg(month) AS pay_months, array_agg(amount) AS pay_amounts
    FROM (SELECT {_MONTH_INT.format("(paid_at AT TIME ZONE 'Asia/Shanghai')")} AS month,
                 sum(amount_fen)::bigint AS amount
          FROM payments WHERE msisdn = s.msisdn GROUP BY 1) x) p ON true
LEFT JOIN LATERAL (
    SELECT array_agg(evaluated_month ORDER BY evaluated_month) AS evaluated,
           array_agg(scheme ORDER BY evaluated_month) AS schemes,
           array_agg(level ORDER BY evaluated_month) AS levels,
           array_agg(policy ORDER BY evaluated_month) AS policies,
           array_agg(effective_from ORDER BY evaluated_month) AS froms,
           array_agg(valid_until ORDER BY evaluated_month) AS untils,
           array_agg(since ORDER BY evaluated_month) AS sinces,
           array_agg(source ORDER BY evaluated_month) AS sources
    FROM tier_serving WHERE msisdn = s.msisdn AND evaluated_month >= $2) a ON true
LEFT JOIN LATERAL (
    SELECT {_MONTH_INT.format("grant_month")} AS grant_month, count(*) AS n
    FROM reactivations WHERE msisdn = s.msisdn
    GROUP BY grant_month ORDER BY grant_month DESC LIMIT 1) g ON true
LEFT JOIN points_accounts pa ON pa.msisdn = s.msisdn
LEFT JOIN LATERAL (
    SELECT array_agg(expires_on ORDER BY expires_on NULLS LAST) AS expiries,
           array_agg(total ORDER BY expires_on NULLS LAST) AS totals
    FROM ({_POINT_BUCKETS.format(who="s.msisdn", day="$4")}) b) pt ON pa.msisdn IS NOT NULL
WHERE s.msisdn = $1
"""  # noqa: S608 - constant SQL fragments


async def load_single(conn: Conn, msisdn: str, today: date | None = None) -> Snapshot | None:
    """The snapshot of one number in ONE round trip (the lookup's miss path)."""
    row = await conn.fetchrow(_ONE, msisdn, _cutoff(today), list(OPEN_ORDER_STATUSES), today)
    if row is None:
        return None
    bills = [(msisdn, row["months"], row["billed"], row["paid"])] if row["months"] else []
    payments = [
        (msisdn, m, a) for m, a in zip(row["pay_months"] or (), row["pay_amounts"] or (), strict=True)
    ]
    assignments = [
        (msisdn, *values)
        for values in zip(
            row["evaluated"] or (),
            row["schemes"] or (),
            row["levels"] or (),
            row["policies"] or (),
            row["froms"] or (),
            row["untils"] or (),
            row["sinces"] or (),
            row["sources"] or (),
            strict=True,
        )
    ]
    grants = [(msisdn, row["grant_month"], row["n"])] if row["n"] else []
    orders = [(msisdn,)] if row["unpaid_grant"] else []
    points = (
        [(msisdn, row["threshold_reached_on"], row["expiries"], row["totals"])] if row["has_points"] else []
    )
    subscriber = tuple(row.values())[:16]  # the subscribers columns come first, in _SUBSCRIBERS order
    return _assemble([subscriber], bills, payments, assignments, grants, orders, points)[0]


def warm_single() -> tuple[str, tuple[Any, ...]]:
    """The lookup's statement with harmless arguments, to prepare it on new connections."""
    return _ONE, ("", date.min, list(OPEN_ORDER_STATUSES), date.min)
