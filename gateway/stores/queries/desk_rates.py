"""The VIP desk's calling rate from the queue engine's finished 15-minute intervals (§9, O1).

The queue engine stores one row per desk and finished interval in `queue_intervals`
(`desk`, `starts_at`, `offered`, …; sql/020).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.stores.queries.snapshot import Conn

INTERVALS_PER_HOUR = 4  # 15-minute intervals


@dataclass(frozen=True, slots=True)
class DeskRate:
    """Offered calls of one desk over a window: the mean per recorded hour and the busiest hour."""

    intervals: int  # finished 15-minute intervals recorded in the window
    offered: int
    busiest_hour: datetime | None
    busiest_offered: int

    @property
    def mean_per_hour(self) -> float:
        """Offered calls per hour over the intervals recorded (0 when none)."""
        return self.offered * INTERVALS_PER_HOUR / self.intervals if self.intervals else 0.0


async def calls_per_hour(conn: Conn, desk: str, until: datetime, days: int = 30) -> DeskRate:
    """The desk's offered calls in the `days` before `until`."""
    since = until - timedelta(days=days)
    row = await conn.fetchrow(
        """SELECT count(DISTINCT starts_at) AS intervals, coalesce(sum(offered), 0)::bigint AS offered
           FROM queue_intervals WHERE desk = $1 AND starts_at >= $2 AND starts_at < $3""",
        desk,
        since,
        until,
    )
    busiest = await conn.fetchrow(
        """SELECT date_trunc('hour', starts_at) AS hour, sum(offered)::bigint AS offered
           FROM queue_intervals WHERE desk = $1 AND starts_at >= $2 AND starts_at < $3
           GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""",
        desk,
        since,
        until,
    )
    assert row is not None  # an aggregate always returns a row
    return DeskRate(
        intervals=int(row["intervals"]),
        offered=int(row["offered"]),
        busiest_hour=busiest["hour"] if busiest is not None else None,
        busiest_offered=int(busiest["offered"]) if busiest is not None else 0,
    )
