"""Month partitions of bills and the tier history (X5, sql/050): made ahead of the writes
that need them, listed and dropped by `callgate retention`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from entitlements.months import Month
from gateway.stores.queries.snapshot import Conn

#: The tables partitioned by month, and the column each is partitioned on.
MONTHLY = {"bills": "month", "tier_assignments": "evaluated_month", "tier_explanations": "evaluated_month"}
TIER_HISTORY = ("tier_assignments", "tier_explanations")


@dataclass(frozen=True, slots=True)
class Partition:
    """One month's partition of a table."""

    table: str
    name: str
    month: date
    rows: int


async def ensure(conn: Conn, table: str, months: Iterable[date]) -> list[date]:
    """Make the month partitions of `table` that do not exist yet; the months made."""
    made = []
    for first_day in sorted(set(months)):
        if await conn.fetchval("SELECT callgate_month_partition($1, $2)", table, first_day):
            made.append(first_day)
    return made


async def staged_bill_months(conn: Conn) -> list[date]:
    """The months of the staged bills (`stage_bills`, see imports.py), oldest first."""
    return [r["month"] for r in await conn.fetch("SELECT DISTINCT month FROM stage_bills ORDER BY 1")]


async def attach_staged_bills(conn: Conn, months: Iterable[date]) -> dict[date, int]:
    """Each of `months` of the staged bills (`stage_bills`) that has no partition yet and no rows
    waiting in `bills_default`, loaded whole into a table of its own, indexed once, and
    attached as that month's partition; month → rows so loaded (issue 22.5).

    Inserted through the parent, a million rows pay the foreign key to subscribers row by
    row (a lookup and a key-share lock on each subscriber: 14 s of a 16 s load); attached,
    the key is checked once for the whole month (0.6 s). The price, until the import's
    transaction commits (the attach is its last step): updates of subscribers wait (the
    check's SHARE ROW EXCLUSIVE lock) and so do reads of bills that touch
    `bills_default` (scanned for the month's rows: none, checked first). The other months
    (corrections of a month already there, and a month already folded into the bill
    totals) are merged row by row as before."""
    loaded: dict[date, int] = {}
    # The fold's month first (as every writer of bills takes it, sql/053): a fold running
    # now finishes before, and a month it folded is merged row by row through the parent,
    # whose triggers keep the folded totals (an attached partition passes no trigger).
    folded = await conn.fetchval("SELECT through FROM bill_totals_through FOR SHARE")
    for first_day in months:
        if folded is not None and first_day < folded:
            continue
        name = f"bills_{first_day:%Y_%m}"
        # The lock callgate_month_partition() takes (sql/050): one maker of a month at a time.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('callgate_month_partition bills'))")
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
            continue
        after = (Month.of(first_day) + 1).first_day
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM bills_default WHERE month >= $1 AND month < $2)", first_day, after
        ):
            continue  # rows written before the month had a partition: callgate_month_partition moves them
        bounds = f"FROM ('{first_day.isoformat()}') TO ('{after.isoformat()}')"  # dates, not text from a file
        await conn.execute(f'CREATE TABLE "{name}" (LIKE bills INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        status = await conn.execute(
            f"""INSERT INTO "{name}" (msisdn, month, billed_fen, paid_fen)
                SELECT msisdn, month, billed_fen, paid_fen FROM stage_bills WHERE month = $1""",  # noqa: S608 - a name made from a date
            first_day,
        )
        await conn.execute(f'ALTER TABLE "{name}" ADD PRIMARY KEY (msisdn, month)')
        # A constraint proving the bounds spares the attach its own scan of the rows.
        await conn.execute(
            f"""ALTER TABLE "{name}" ADD CONSTRAINT "{name}_bounds"
                CHECK (month >= '{first_day.isoformat()}' AND month < '{after.isoformat()}')"""
        )
        await conn.execute(f'ALTER TABLE bills ATTACH PARTITION "{name}" FOR VALUES {bounds}')
        await conn.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_bounds"')
        # Statistics now, not when autovacuum comes by: the next evaluation plans its range
        # reads of this month with them (a sample of 30,000 rows, a fraction of a second).
        await conn.execute(f'ANALYZE "{name}"')
        loaded[first_day] = int(status.split()[-1])
    return loaded


async def monthly(conn: Conn, table: str, count_rows: bool = True) -> list[Partition]:
    """The month partitions of `table`, oldest first (the default partition left out)."""
    rows = await conn.fetch(
        """SELECT c.relname AS name,
                  substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([0-9-]+)''\\)')::date AS month
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = $1::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
           ORDER BY month""",
        table,
    )
    found = []
    for r in rows:
        counted = await row_count(conn, r["name"]) if count_rows else 0
        found.append(Partition(table, r["name"], r["month"], counted))
    return found


async def row_count(conn: Conn, partition_name: str) -> int:
    """The rows of one partition (its name from the catalog)."""
    return int(await conn.fetchval(f'SELECT count(*) FROM "{partition_name}"'))  # noqa: S608 - a catalog name


async def default_rows_before(conn: Conn, table: str, cutoff: date) -> int:
    """Rows of months before `cutoff` waiting in the table's default partition."""
    return await default_rows_before_except(conn, table, cutoff, [])


async def default_rows_before_except(conn: Conn, table: str, cutoff: date, keep: list[date]) -> int:
    """Rows of months before `cutoff`, other than the months `keep`, in the default partition."""
    column = MONTHLY[table]
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM {table}_default WHERE {column} < $1 AND NOT {column} = ANY($2::date[])",  # noqa: S608 - constants
            cutoff,
            keep,
        )
    )


async def drop(conn: Conn, partition: Partition) -> None:
    """Drop one month partition (its rows go with it: no per-row delete, no trigger)."""
    await conn.execute(f'DROP TABLE "{partition.name}"')


async def delete_default_before(conn: Conn, table: str, cutoff: date) -> int:
    """Delete the rows of months before `cutoff` from the table's default partition."""
    return await delete_default_before_except(conn, table, cutoff, [])


async def delete_default_before_except(conn: Conn, table: str, cutoff: date, keep: list[date]) -> int:
    """Delete the rows of months before `cutoff`, other than the months `keep`, from the
    table's default partition.

    Deleted from the partition itself, not through the parent, so the serving state's
    triggers (sql/051) do not fire: retention removes history, never what serves."""
    column = MONTHLY[table]
    status = await conn.execute(
        f"DELETE FROM {table}_default WHERE {column} < $1 AND NOT {column} = ANY($2::date[])",  # noqa: S608 - constants
        cutoff,
        keep,
    )
    return int(status.split()[-1])


async def serving_months(conn: Conn) -> list[date]:
    """The evaluated months of the rows in the serving state (their history and explanations
    still describe a level that serves or may serve)."""
    rows = await conn.fetch("SELECT DISTINCT evaluated_month FROM tier_serving ORDER BY 1")
    return [r["evaluated_month"] for r in rows]


async def unfinished_run_months(conn: Conn) -> list[date]:
    """The months of evaluation runs started and not finished (a resume needs their bills)."""
    rows = await conn.fetch("SELECT DISTINCT month FROM evaluation_runs WHERE finished_at IS NULL ORDER BY 1")
    return [r["month"] for r in rows]
