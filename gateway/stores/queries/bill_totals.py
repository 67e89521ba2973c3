"""Bill months folded into per-subscriber totals (sql/053, issue 22.1): the fold, its
month, and the totals computed again after `callgate retention` drops folded months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.stores.queries.snapshot import Conn

# The totals with the months [$1, $2) added, written whole into a new table (no row-by-row
# upsert): the sums, and the running totals of the bills (sql/053: `unpaid_upto`) that
# everything paid in the folded months does not reach, the old ones and the new months'.
_FOLD = """
    INSERT INTO bill_totals_next (msisdn, billed_fen, paid_fen, unpaid_upto)
    SELECT msisdn, billed, paid,
           CASE WHEN billed <= paid THEN '{}'::bigint[]  -- paid off
                WHEN NOT added THEN old_unpaid  -- no new month: nothing changes
                ELSE ARRAY(SELECT u
                           FROM unnest(old_unpaid || ARRAY(SELECT old_billed + r FROM unnest(running) r)) u
                           WHERE u > paid)
           END
    FROM (SELECT msisdn, n.msisdn IS NOT NULL AS added, n.running,
                 coalesce(o.billed_fen, 0) AS old_billed, coalesce(o.unpaid_upto, '{}') AS old_unpaid,
                 coalesce(o.billed_fen, 0) + coalesce(n.billed, 0) AS billed,
                 coalesce(o.paid_fen, 0) + coalesce(n.paid, 0) AS paid
          FROM (SELECT msisdn, sum(billed_fen) AS billed, sum(paid_fen) AS paid,
                       array_agg(running ORDER BY month) FILTER (WHERE billed_fen > 0) AS running
                FROM (SELECT msisdn, month, billed_fen, paid_fen,
                             sum(billed_fen) OVER (PARTITION BY msisdn ORDER BY month) AS running
                      FROM bills WHERE month >= coalesce($1::date, '-infinity') AND month < $2) b
                GROUP BY msisdn) n
          FULL JOIN bill_totals o USING (msisdn)) t
    ORDER BY msisdn
"""


#: How long a fold waits for a lock before it gives up (the evaluation then goes on unfolded).
FOLD_LOCK_TIMEOUT = "10s"


@dataclass(frozen=True, slots=True)
class Fold:
    """What one fold did: the months folded ([first, upto)) and the subscribers with totals."""

    first: date | None  # None: nothing had been folded before
    upto: date
    subscribers: int


async def through(conn: Conn) -> date | None:
    """The first bill month not folded (None: nothing folded)."""
    found: date | None = await conn.fetchval("SELECT through FROM bill_totals_through")
    return found


async def fold(conn: Conn, upto: date) -> Fold | None:
    """Fold the bill months before `upto` into the totals; None when there is nothing to
    fold (already folded that far, or no bill row before `upto`). In one transaction, with
    the fold's month locked, so a concurrent writer of bills waits for it (sql/053)."""
    async with conn.transaction():
        # Bounded waits, whatever the server's setting: a fold that cannot have the totals
        # (a long read of them) or the through row gives up rather than hold writers.
        await conn.execute(f"SET LOCAL lock_timeout = '{FOLD_LOCK_TIMEOUT}'")
        first = await lock(conn)
        if first is not None and first >= upto:
            return None
        if first is None:  # the first fold: only when some bill month lies before `upto`
            older = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM bills WHERE month < $1)", upto)
            if not older:
                return None
        # A new table, indexed once, takes the old one's place: ~4× faster than updating a
        # million rows in place. Statements prepared on the old table are planned again
        # by name (PostgreSQL revalidates them), and writers wait on the through row.
        await conn.execute(
            "CREATE TABLE bill_totals_next (LIKE bill_totals INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        status = await conn.execute(_FOLD, first, upto)
        await conn.execute("ALTER TABLE bill_totals_next ADD PRIMARY KEY (msisdn)")
        await conn.execute("DROP TABLE bill_totals")
        await conn.execute("ALTER TABLE bill_totals_next RENAME TO bill_totals")
        await conn.execute("ALTER INDEX bill_totals_next_pkey RENAME TO bill_totals_pkey")
        await conn.execute("ANALYZE bill_totals")  # the batches plan their range reads with it
        await conn.execute("UPDATE bill_totals_through SET through = $1", upto)
    return Fold(first, upto, int(status.rsplit(" ", 1)[-1]))


async def lock(conn: Conn) -> date | None:
    """Take the fold's month for the caller's transaction (FOR UPDATE) and return it: before
    anything else it locks, so it waits for a fold (and a fold for it) in the order every
    writer uses (sql/053)."""
    found: date | None = await conn.fetchval("SELECT through FROM bill_totals_through FOR UPDATE")
    return found


async def refold(conn: Conn) -> int:
    """Compute every subscriber's totals again from the bill rows before the fold's month
    (after `callgate retention` dropped folded months: no trigger sees a DROP); how many
    subscribers had totals. In the caller's transaction, which took `lock` first."""
    upto = await lock(conn)
    if upto is None:
        return 0
    had = int(await conn.fetchval("SELECT count(*) FROM bill_totals"))
    await conn.execute("TRUNCATE bill_totals")  # (no million dead rows left behind)
    await conn.execute("SELECT bill_totals_refold(NULL, $1)", upto)
    return had
