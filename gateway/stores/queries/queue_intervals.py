"""The queue engine's finished 15-minute intervals (A4), one row per desk and interval.

Every serving process writes the intervals it finds finished in Redis as an upsert of
absolute counts, so writing the same interval twice, or from two processes, is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class StoredInterval:
    """One desk's counts over one finished interval."""

    desk: str
    starts_at: datetime
    ends_at: datetime
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    short_abandoned: int
    wait_ms: int
    threshold_s: int
    short_abandon_s: int


async def upsert(db: asyncpg.Pool | Conn, intervals: Sequence[StoredInterval], timeout: float = 5.0) -> None:
    """Write finished intervals (the counts as they are now replace what was there)."""
    if not intervals:
        return
    await db.executemany(
        """INSERT INTO queue_intervals (desk, starts_at, ends_at, offered, answered, answered_within,
               abandoned, short_abandoned, wait_ms, threshold_s, short_abandon_s)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (desk, starts_at) DO UPDATE
               SET ends_at = excluded.ends_at, offered = excluded.offered, answered = excluded.answered,
                   answered_within = excluded.answered_within, abandoned = excluded.abandoned,
                   short_abandoned = excluded.short_abandoned, wait_ms = excluded.wait_ms,
                   threshold_s = excluded.threshold_s, short_abandon_s = excluded.short_abandon_s,
                   updated_at = now()
           WHERE (queue_intervals.offered, queue_intervals.answered, queue_intervals.answered_within,
                  queue_intervals.abandoned, queue_intervals.short_abandoned, queue_intervals.wait_ms)
                 IS DISTINCT FROM (excluded.offered, excluded.answered, excluded.answered_within,
                  excluded.abandoned, excluded.short_abandoned, excluded.wait_ms)""",
        [
            (
                i.desk,
                i.starts_at,
                i.ends_at,
                i.offered,
                i.answered,
                i.answered_within,
                i.abandoned,
                i.short_abandoned,
                i.wait_ms,
                i.threshold_s,
                i.short_abandon_s,
            )
            for i in intervals
        ],
        timeout=timeout,
    )


async def between(
    db: asyncpg.Pool | Conn, first: datetime, last: datetime, limit: int = 10_000
) -> list[StoredInterval]:
    """Intervals starting in [first, last), by start then desk."""
    rows = await db.fetch(
        """SELECT desk, starts_at, ends_at, offered, answered, answered_within, abandoned,
                  short_abandoned, wait_ms, threshold_s, short_abandon_s
           FROM queue_intervals WHERE starts_at >= $1 AND starts_at < $2
           ORDER BY starts_at, desk LIMIT $3""",
        first,
        last,
        limit,
    )
    return [StoredInterval(**dict(r)) for r in rows]
