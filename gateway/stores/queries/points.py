"""Loyalty points (P1–P5): the ledger of grants, the threshold day, redemptions and the
grants they took from — and the staging of a points import."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from entitlements.points import Grant
from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Ledger:
    """A subscriber's points account: the threshold day (P2) and the unspent grants (P1)."""

    threshold_reached_on: date | None
    grants: tuple[Grant, ...]


_ACCOUNT = "SELECT threshold_reached_on FROM points_accounts WHERE msisdn = $1"
_ACCOUNT_LOCKED = _ACCOUNT + " FOR UPDATE"


async def ledger(conn: Conn, msisdn: str, *, lock: bool = False) -> Ledger | None:
    """The account and its grants with points left (None: no points ledger).

    `lock`: inside a transaction, lock the account row first, so spends of one subscriber
    queue behind each other (a redemption reads, decides and writes under the lock).
    """
    sql = _ACCOUNT_LOCKED if lock else _ACCOUNT
    reached = await conn.fetchrow(sql, msisdn)
    if reached is None:
        return None
    rows = await conn.fetch(
        """SELECT id, granted_on, points, remaining, expires_on FROM points_grants
           WHERE msisdn = $1 AND remaining > 0 ORDER BY id""",
        msisdn,
    )
    return Ledger(
        reached["threshold_reached_on"],
        tuple(Grant(r["id"], r["granted_on"], r["points"], r["remaining"], r["expires_on"]) for r in rows),
    )


async def redeem(
    conn: Conn,
    *,
    msisdn: str,
    item: str,
    points: int,
    taken: Sequence[tuple[int, int]],
    channel: str,
    actor: str,
    at: datetime,
) -> int:
    """Write a redemption and take its points from the grants (P1 order, decided by the
    engine); returns its id. The grants' CHECK keeps every `remaining` ≥ 0."""
    redemption_id = await conn.fetchval(
        """INSERT INTO points_redemptions (msisdn, item, points, channel, actor, redeemed_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        msisdn,
        item,
        points,
        channel,
        actor,
        at,
    )
    ids = [grant_id for grant_id, _ in taken]
    amounts = [amount for _, amount in taken]
    await conn.execute(
        """UPDATE points_grants g SET remaining = g.remaining - t.amount
           FROM unnest($1::bigint[], $2::int[]) AS t(id, amount) WHERE g.id = t.id""",
        ids,
        amounts,
    )
    await conn.execute(
        """INSERT INTO points_spends (redemption_id, grant_id, points)
           SELECT $1, id, amount FROM unnest($2::bigint[], $3::int[]) AS t(id, amount)""",
        redemption_id,
        ids,
        amounts,
    )
    await conn.execute("UPDATE points_accounts SET updated_at = $2 WHERE msisdn = $1", msisdn, at)
    return int(redemption_id)


async def recent_redemptions(conn: Conn, msisdn: str, limit: int = 10) -> list[dict[str, Any]]:
    """The latest redemptions, newest first (the agent's view)."""
    rows = await conn.fetch(
        """SELECT id, item, points, channel, actor, redeemed_at FROM points_redemptions
           WHERE msisdn = $1 ORDER BY redeemed_at DESC, id DESC LIMIT $2""",
        msisdn,
        limit,
    )
    return [dict(r) for r in rows]


# --- the import (P1) -----------------------------------------------------------------------

STAGE_COLUMNS = ("row_no", "msisdn", "granted_on", "points", "source", "expires_on")


async def stage(conn: Conn, records: Sequence[tuple[Any, ...]]) -> list[tuple[int, str]]:
    """COPY validated rows into a temporary table; (row, number) of numbers that are not
    subscribers (the file is then rejected)."""
    await conn.execute(
        """CREATE TEMP TABLE points_stage (
               row_no integer, msisdn text, granted_on date, points integer, source text, expires_on date
           ) ON COMMIT DROP"""
    )
    await conn.copy_records_to_table("points_stage", records=records, columns=STAGE_COLUMNS)
    rows = await conn.fetch(
        """SELECT p.row_no, p.msisdn FROM points_stage p
           WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.msisdn = p.msisdn)
           ORDER BY p.row_no LIMIT 10000"""
    )
    return [(r["row_no"], r["msisdn"]) for r in rows]


async def merge(conn: Conn) -> tuple[int, int]:
    """Add the staged grants (accounts as needed); a grant already in the ledger is left as it
    is (a re-imported file adds nothing). Returns (grants added, grants already there)."""
    await conn.execute(
        """INSERT INTO points_accounts (msisdn)
           SELECT DISTINCT msisdn FROM points_stage ON CONFLICT (msisdn) DO NOTHING"""
    )
    added = await conn.fetchval(
        """WITH added AS (
               INSERT INTO points_grants (msisdn, granted_on, points, remaining, source, expires_on)
               SELECT msisdn, granted_on, points, points, source, expires_on FROM points_stage
               ON CONFLICT DO NOTHING RETURNING 1)
           SELECT count(*) FROM added"""
    )
    total = await conn.fetchval("SELECT count(*) FROM points_stage")
    return int(added), int(total) - int(added)


async def mark_thresholds(
    conn: Conn, threshold: int, today: date, msisdns: Sequence[str] | None = None
) -> int:
    """P2, set-based: for accounts (of `msisdns`, or all) that have not reached the threshold,
    the first day up to `today` their balance reached it; returns how many reached it now.

    Nothing is spent before the threshold is reached, so the balance on a day is the points
    of the grants made by then and not expired (P1): a running sum over the days grants
    start (+) and the days after they expire (−), as `entitlements.points.threshold_reached_on`.
    """
    marked = await conn.fetchval(
        """WITH open AS (
               SELECT msisdn FROM points_accounts
               WHERE threshold_reached_on IS NULL AND ($3::text[] IS NULL OR msisdn = ANY($3::text[]))),
           moves AS (
               SELECT g.msisdn, g.granted_on AS day, g.points AS delta
               FROM points_grants g JOIN open USING (msisdn) WHERE g.granted_on <= $2
               UNION ALL
               SELECT g.msisdn, g.expires_on + 1, -g.points
               FROM points_grants g JOIN open USING (msisdn)
               WHERE g.granted_on <= $2 AND g.expires_on IS NOT NULL),
           daily AS (SELECT msisdn, day, sum(delta) AS delta FROM moves GROUP BY msisdn, day),
           running AS (
               SELECT msisdn, day, sum(delta) OVER (PARTITION BY msisdn ORDER BY day) AS balance FROM daily),
           reached AS (
               SELECT msisdn, min(day) AS day FROM running
               WHERE balance >= $1 AND day <= $2 GROUP BY msisdn),
           marked AS (
               UPDATE points_accounts a SET threshold_reached_on = r.day, updated_at = now()
               FROM reached r WHERE a.msisdn = r.msisdn RETURNING 1)
           SELECT count(*) FROM marked""",
        threshold,
        today,
        list(msisdns) if msisdns is not None else None,
    )
    return int(marked)
