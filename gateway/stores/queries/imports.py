"""The merges behind `callgate import`: validated rows are COPYed into a staging table
(dropped at commit) and merged into their table in one statement, so a file of a
million rows is a handful of round trips. `gateway.batch.importer` validates first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from gateway.stores.queries.snapshot import Conn

#: The staging shape of the fact files: the file's row number travels along, so an
#: unknown number can be reported by row.
_FACT_STAGES = {
    "bills": "row_no integer, msisdn text, month date, billed_fen bigint, paid_fen bigint",
    "payments": "row_no integer, msisdn text, paid_at timestamptz, amount_fen bigint",
}


def _counts(rows: list[asyncpg.Record]) -> tuple[int, int]:
    """(inserted, updated or unchanged) from rows carrying an `inserted` flag."""
    inserted = sum(1 for r in rows if r["inserted"])
    return inserted, len(rows) - inserted


async def branch_tree(conn: Conn) -> dict[str, tuple[str, str | None]]:
    """code → (level, parent code) of every branch."""
    rows = await conn.fetch("SELECT code, level, parent_code FROM branches")
    return {r["code"]: (r["level"], r["parent_code"]) for r in rows}


async def merge_branches(
    conn: Conn, records: Sequence[tuple[Any, ...]], columns: Sequence[str]
) -> tuple[int, int]:
    """Insert or rename branches, in the order given (parents first); (inserted, updated)."""
    await conn.execute(
        "CREATE TEMP TABLE stage_branches (LIKE branches INCLUDING DEFAULTS, ord serial) ON COMMIT DROP"
    )
    await conn.copy_records_to_table("stage_branches", records=records, columns=columns)
    rows = await conn.fetch(
        """INSERT INTO branches AS b (code, name, level, parent_code)
           SELECT code, name, level, parent_code FROM stage_branches ORDER BY ord
           ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent_code = excluded.parent_code
           RETURNING (xmax = 0) AS inserted"""
    )
    return _counts(rows)


async def merge_subscribers(
    conn: Conn, records: Sequence[tuple[Any, ...]], columns: Sequence[str]
) -> tuple[int, int]:
    """Insert or update subscribers (`columns` are constants of the importer); (inserted, updated)."""
    await conn.execute(
        "CREATE TEMP TABLE stage_subscribers (LIKE subscribers INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    await conn.copy_records_to_table("stage_subscribers", records=records, columns=columns)
    col_list = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "msisdn")
    rows = await conn.fetch(
        f"""INSERT INTO subscribers AS s ({col_list})
            SELECT {col_list} FROM stage_subscribers
            ON CONFLICT (msisdn) DO UPDATE SET {updates}, updated_at = now()
            RETURNING (xmax = 0) AS inserted"""  # noqa: S608 - column names are the importer's constants
    )
    return _counts(rows)


async def stage_facts(conn: Conn, kind: str, records: Sequence[tuple[Any, ...]]) -> list[tuple[int, str]]:
    """Stage bills or payments (row number first); (row, number) of the first 10,000 rows
    whose number is not a subscriber."""
    stage = f"stage_{kind}"  # one name per shape: asyncpg caches a table's columns by name
    await conn.execute(f"CREATE TEMP TABLE {stage} ({_FACT_STAGES[kind]}) ON COMMIT DROP")
    await conn.copy_records_to_table(stage, records=records)
    await conn.execute(f"CREATE INDEX ON {stage} (msisdn)")
    unknown = await conn.fetch(
        f"""SELECT st.row_no, st.msisdn FROM {stage} st
            WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.msisdn = st.msisdn)
            ORDER BY st.row_no LIMIT 10000"""  # noqa: S608 - constant table name
    )
    return [(r["row_no"], r["msisdn"]) for r in unknown]


async def merge_bills(conn: Conn, months: Sequence[date]) -> tuple[int, int]:
    """Insert or correct the staged bills of `months` (the others were attached whole as new
    partitions, `partitions.attach_staged_bills`); (inserted, updated).

    bills is partitioned by month (X5), where `xmax = 0` cannot tell an insert from an
    update: the rows already there are counted first, in those months' partitions only."""
    if not months:
        return 0, 0
    existing = await conn.fetchval(
        """SELECT count(*) FROM stage_bills s JOIN bills b ON b.msisdn = s.msisdn AND b.month = s.month
           WHERE b.month = ANY($1::date[])""",
        list(months),
    )
    status = await conn.execute(
        """INSERT INTO bills AS b (msisdn, month, billed_fen, paid_fen)
           SELECT msisdn, month, billed_fen, paid_fen FROM stage_bills WHERE month = ANY($1::date[])
           ON CONFLICT (msisdn, month) DO UPDATE
               SET billed_fen = excluded.billed_fen, paid_fen = excluded.paid_fen""",
        list(months),
    )
    total = int(status.split()[-1])
    return total - int(existing), int(existing)


async def merge_payments(conn: Conn) -> tuple[int, int]:
    """Insert the staged payments not yet recorded; (inserted, already recorded)."""
    rows = await conn.fetch(
        """INSERT INTO payments (msisdn, paid_at, amount_fen, source)
           SELECT msisdn, paid_at, amount_fen, 'import' FROM stage_payments
           ON CONFLICT (msisdn, paid_at, amount_fen) DO NOTHING
           RETURNING true AS inserted"""
    )
    return _counts(rows)
