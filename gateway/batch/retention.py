"""`callgate retention --keep-months K` (X5): drop whole month partitions of bills and the
tier history older than K months, never what the evaluation or a serving level needs.

What is kept, whatever K says:
- bills: the evaluation's bill window. Evaluating month M reads M−13 … M−1 (T1.4's 12
  months and the one before them, `Snapshot.history`), so K is at least 13 (the current
  month and the 13 before it), and an unfinished run of an older month keeps its window
  until it finishes.
- tier history (tier_assignments and their explanations): every month that a row of the
  serving state (sql/051) was evaluated in — the level in force, the next one, the
  engine's `current` and the legacy cards (T1.9, T1.11) keep their history and
  explanation for `callgate explain` and the agent view. What serves callers is the
  serving state itself, which dropping history never changes.

Dropped bills take their arrears with them: debt older than K months is the billing
system's to collect. Rows waiting in a default partition (a month that had no partition
when they were written) are deleted by the same rule. Months already folded into the
per-subscriber bill totals (sql/053) leave them too: the totals are computed again from
the months left, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import asyncpg

from entitlements.months import Month
from gateway.stores.queries import bill_totals, partitions
from gateway.stores.queries.partitions import Partition
from gateway.stores.queries.snapshot import BILL_WINDOW

MIN_KEEP_MONTHS = BILL_WINDOW


class RetentionRefused(Exception):
    """K is too small for what the evaluation needs."""


@dataclass(slots=True)
class Plan:
    """What retention drops and keeps."""

    today: date
    keep_months: int
    cutoff: date  # the first month kept by K
    bills_cutoff: date  # the first bill month kept (earlier if an unfinished run needs it)
    drop: list[Partition] = field(default_factory=list)
    kept_for_serving: list[Partition] = field(default_factory=list)
    default_rows: dict[str, int] = field(default_factory=dict)
    dropped: bool = False
    totals_adjusted: int = 0  # subscribers whose folded bill totals were computed again after the drop

    def lines(self) -> list[str]:
        """The summary printed by the command."""
        verb = "dropped" if self.dropped else "would drop"
        out = [
            f"retention: keep {self.keep_months} months ({Month.of(self.cutoff)} onward; today {self.today})"
        ]
        if self.bills_cutoff < self.cutoff:
            out.append(
                f"  bills from {Month.of(self.bills_cutoff)} kept: an unfinished evaluation run reads them"
            )
        for table in partitions.MONTHLY:
            gone = [p for p in self.drop if p.table == table]
            rows = sum(p.rows for p in gone)
            months = ", ".join(str(Month.of(p.month)) for p in gone) or "none"
            out.append(f"  {table}: {verb} {len(gone)} partitions ({months}; {rows:,} rows)")
            kept = [p for p in self.kept_for_serving if p.table == table]
            if kept:
                out.append(
                    f"    kept {', '.join(str(Month.of(p.month)) for p in kept)}: levels evaluated then "
                    "still serve or may serve (the serving state refers to them)"
                )
            if self.default_rows.get(table):
                out.append(f"    and {self.default_rows[table]:,} older rows in {table}_default")
            if table == "bills" and self.dropped and self.totals_adjusted:
                out.append(
                    f"    folded bill totals of {self.totals_adjusted:,} subscribers computed again "
                    "from the months left"
                )
        if not self.dropped:
            out.append("dry run: nothing dropped" if self.drop else "nothing to drop")
        return out


async def plan(conn: asyncpg.Connection, keep_months: int, today: date) -> Plan:
    """What `keep_months` would drop today; refuses a K below the evaluation's bill window."""
    if keep_months < MIN_KEEP_MONTHS:
        raise RetentionRefused(
            f"--keep-months {keep_months}: the evaluation reads the {BILL_WINDOW} bill months before the "
            f"month it evaluates (T1.4); keep at least {MIN_KEEP_MONTHS}"
        )
    current = Month.of(today)
    cutoff = (current - keep_months).first_day
    bills_cutoff = cutoff
    for unfinished in await partitions.unfinished_run_months(conn):
        bills_cutoff = min(bills_cutoff, (Month.of(unfinished) - BILL_WINDOW).first_day)
    serving = set(await partitions.serving_months(conn))
    result = Plan(today, keep_months, cutoff, bills_cutoff)
    for table in partitions.MONTHLY:
        limit = bills_cutoff if table == "bills" else cutoff
        for part in await partitions.monthly(conn, table, count_rows=False):
            if part.month >= limit:
                continue
            counted = Partition(
                part.table,
                part.name,
                part.month,
                await partitions.row_count(conn, part.name),
            )
            if table != "bills" and part.month in serving:
                result.kept_for_serving.append(counted)
            else:
                result.drop.append(counted)
        if table == "bills":
            result.default_rows[table] = await partitions.default_rows_before(conn, table, limit)
        else:
            result.default_rows[table] = await partitions.default_rows_before_except(
                conn, table, limit, sorted(serving)
            )
    return result


async def apply(conn: asyncpg.Connection, keep_months: int, today: date, *, dry_run: bool) -> Plan:
    """Plan, and unless `dry_run` drop the planned partitions in one transaction."""
    async with conn.transaction():
        if not dry_run:  # before any partition is dropped: the order a fold locks in (sql/053)
            await bill_totals.lock(conn)
        result = await plan(conn, keep_months, today)
        if dry_run:
            return result
        for part in result.drop:
            await partitions.drop(conn, part)
        for table in partitions.MONTHLY:
            if not result.default_rows.get(table):
                continue
            if table == "bills":
                await partitions.delete_default_before(conn, table, result.bills_cutoff)
            else:
                await partitions.delete_default_before_except(
                    conn, table, result.cutoff, sorted(await partitions.serving_months(conn))
                )
        # Folded months (sql/053) dropped: no trigger sees a DROP, so the totals are
        # computed again from the months left.
        if any(p.table == "bills" for p in result.drop) or result.default_rows.get("bills"):
            result.totals_adjusted = await bill_totals.refold(conn)
        result.dropped = True
    return result
