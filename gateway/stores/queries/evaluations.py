"""The monthly evaluation's runs, shards and batch writes (`gateway.batch.evaluation`).

A run is one row of `evaluation_runs` per (policy, month); its key-range shards are rows
of `evaluation_shards` whose `last_msisdn` is the checkpoint a killed run resumes from.
A batch's tier history, explanations and SMS outbox rows go in with COPY.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from gateway.stores.queries.snapshot import Conn

ASSIGNMENT_COLUMNS = (
    "msisdn", "policy", "evaluated_month", "policy_version", "scheme", "level", "previous_level",
    "computed_level", "change", "effective_from", "valid_until", "since", "source",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored: its run date, whether every shard finished, and how many hosts share it (X4)."""

    run_date: date
    finished: bool
    hosts: int = 1


@dataclass(frozen=True, slots=True)
class Shard:
    """An unfinished shard: its number, its upper bound (None: the last) and its checkpoint."""

    shard: int
    hi: str | None
    last_msisdn: str


async def try_lock(conn: Conn, lock_id: int) -> bool:
    """Take a session advisory lock unless another session holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id))


async def unlock(conn: Conn, lock_id: int) -> None:
    """Release a session advisory lock."""
    await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)


async def prefer_index_scans(conn: Conn) -> None:
    """This session's planner costs random reads like the in-memory tables they are.

    The batch reads are range scans over number-ordered indexes of tables that sit in
    memory; at the default random_page_cost (4, for spinning disks) the planner prefers
    bitmap scans plus a sort, ~1.6x slower here (bills: 580 → 360 ms a batch).
    """
    await conn.execute("SET random_page_cost = 1.1")


async def read_only(conn: Conn) -> None:
    """Make this session's transactions read-only: PostgreSQL refuses any write on it (O1 dry run)."""
    await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")


async def reset_scan_costs(conn: Conn) -> None:
    """Undo `prefer_index_scans` for this session."""
    await conn.execute("RESET random_page_cost")


async def run_of(conn: Conn, policy: str, first_day: date) -> Run | None:
    """The run of a policy and month, if one was started."""
    row = await conn.fetchrow(
        "SELECT run_date, finished_at, hosts FROM evaluation_runs WHERE policy = $1 AND month = $2",
        policy,
        first_day,
    )
    return None if row is None else Run(row["run_date"], row["finished_at"] is not None, row["hosts"])


async def latest_evaluated(conn: Conn) -> date | None:
    """The latest month with a run (its first day), finished or not; None before the first.

    The serving state keeps only the latest row of each policy (sql/054): a run of an
    older month, and a dry run of this one, read the history instead (evaluation.py)."""
    found: date | None = await conn.fetchval("SELECT max(month) FROM evaluation_runs")
    return found


async def nth_msisdn(conn: Conn, offset: int) -> str | None:
    """The number at `offset` in number order (a shard boundary)."""
    cut = await conn.fetchval("SELECT msisdn FROM subscribers ORDER BY msisdn OFFSET $1 LIMIT 1", offset)
    return None if cut is None else str(cut)


async def create_run(
    conn: Conn,
    policy: str,
    first_day: date,
    policy_version: str,
    run_date: date,
    bounds: list[str],
    host_of: list[int] | None = None,
    hosts: int = 1,
) -> bool:
    """Start a run with one shard per lower bound in `bounds` (each ends where the next starts),
    shard k belonging to host `host_of[k]` of `hosts` (X4; default all to host 1).

    False when another host created the run first (its layout stands: nothing is written)."""
    async with conn.transaction():
        created = await conn.fetchval(
            """INSERT INTO evaluation_runs (policy, month, policy_version, run_date, hosts)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
            policy,
            first_day,
            policy_version,
            run_date,
            hosts,
        )
        if not created:
            return False
        for shard, lo in enumerate(bounds):
            hi = bounds[shard + 1] if shard + 1 < len(bounds) else None
            await conn.execute(
                """INSERT INTO evaluation_shards (policy, month, shard, lo, hi, last_msisdn, host)
                   VALUES ($1, $2, $3, $4, $5, $4, $6)""",
                policy,
                first_day,
                shard,
                lo,
                hi,
                host_of[shard] if host_of else 1,
            )
    return True


async def unfinished_shards(conn: Conn, policy: str, first_day: date, host: int | None = None) -> list[Shard]:
    """The shards of a run still to do (of one host, X4, or all), by number."""
    rows = await conn.fetch(
        """SELECT shard, hi, last_msisdn FROM evaluation_shards
           WHERE policy = $1 AND month = $2 AND NOT finished AND ($3::int IS NULL OR host = $3)
           ORDER BY shard""",
        policy,
        first_day,
        host,
    )
    return [Shard(r["shard"], r["hi"], r["last_msisdn"]) for r in rows]


async def hosts_unfinished(conn: Conn, policy: str, first_day: date) -> list[int]:
    """The hosts (X4) with a shard of the run still to do."""
    rows = await conn.fetch(
        """SELECT DISTINCT host FROM evaluation_shards
           WHERE policy = $1 AND month = $2 AND NOT finished ORDER BY host""",
        policy,
        first_day,
    )
    return [int(r["host"]) for r in rows]


async def remaining(conn: Conn, after: str, hi: str | None) -> int:
    """Subscribers after a shard's checkpoint up to its upper bound."""
    count = await conn.fetchval(
        """SELECT count(*) FROM subscribers
           WHERE msisdn > $1 AND ($2::text IS NULL OR msisdn <= $2)""",
        after,
        hi,
    )
    return int(count)


async def copy_assignments(conn: Conn, records: Iterable[tuple[object, ...]]) -> None:
    """COPY tier history rows (`ASSIGNMENT_COLUMNS`)."""
    await conn.copy_records_to_table("tier_assignments", records=records, columns=ASSIGNMENT_COLUMNS)


async def copy_explanations(conn: Conn, records: Iterable[tuple[object, ...]]) -> None:
    """COPY (msisdn, policy, evaluated_month, explanation) rows."""
    await conn.copy_records_to_table(
        "tier_explanations", records=records, columns=("msisdn", "policy", "evaluated_month", "explanation")
    )


async def copy_notifications(conn: Conn, records: Iterable[tuple[object, ...]]) -> None:
    """COPY (msisdn, kind, month, body) rows into the SMS outbox."""
    await conn.copy_records_to_table(
        "notifications", records=records, columns=("msisdn", "kind", "month", "body")
    )


async def end_legacy_cards(conn: Conn, msisdns: list[str], run_date: date, legacy_scheme: str) -> None:
    """T1.11: the imported cards of numbers rated under the new scheme end the day before the run."""
    await conn.execute(
        """UPDATE tier_assignments SET valid_until = $2::date - 1
           WHERE msisdn = ANY($1::text[]) AND source = 'import' AND scheme = $3
             AND (valid_until IS NULL OR valid_until >= $2::date)""",
        msisdns,
        run_date,
        legacy_scheme,
    )


async def checkpoint(
    conn: Conn, policy: str, first_day: date, shard: int, last: str, counts: Mapping[str, int]
) -> None:
    """A shard's checkpoint: the last number done, and the batch's counts added to its totals."""
    await conn.execute(
        """UPDATE evaluation_shards
           SET last_msisdn = $4,
               counts = (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM (
                   SELECT k, sum(v::bigint) AS v FROM (
                       SELECT * FROM jsonb_each_text(counts)
                       UNION ALL SELECT * FROM jsonb_each_text($5::jsonb)) x(k, v)
                   GROUP BY k) y)
           WHERE policy = $1 AND month = $2 AND shard = $3""",
        policy,
        first_day,
        shard,
        last,
        counts,
    )


async def finish_shard(conn: Conn, policy: str, first_day: date, shard: int) -> None:
    """Mark a shard done."""
    await conn.execute(
        "UPDATE evaluation_shards SET finished = true WHERE policy = $1 AND month = $2 AND shard = $3",
        policy,
        first_day,
        shard,
    )


async def finish_run(conn: Conn, policy: str, first_day: date) -> bool:
    """Mark a run done if every shard of every host has finished and nobody marked it yet.

    True for exactly one caller (X4: two hosts finishing their last shards at the same time
    queue on the run's row; the second finds it done). Call inside the transaction that also
    does the month's closing steps, so they happen once with the mark."""
    row = await conn.fetchrow(
        "SELECT finished_at FROM evaluation_runs WHERE policy = $1 AND month = $2 FOR UPDATE",
        policy,
        first_day,
    )
    if row is None or row["finished_at"] is not None:
        return False
    if await hosts_unfinished(conn, policy, first_day):
        return False
    await conn.execute(
        "UPDATE evaluation_runs SET finished_at = now() WHERE policy = $1 AND month = $2",
        policy,
        first_day,
    )
    return True
