"""VIP services (V1): uses counted per calendar year; clubs (V2): memberships."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Use:
    """One recorded use of a service."""

    id: int
    benefit: str
    year: int
    seq: int
    used_at: datetime
    place: str | None


async def uses_in_year(conn: Conn, msisdn: str, year: int) -> dict[str, int]:
    """Benefit code → uses recorded in the calendar year."""
    rows = await conn.fetch(
        "SELECT benefit, count(*) AS n FROM benefit_uses WHERE msisdn = $1 AND year = $2 GROUP BY benefit",
        msisdn,
        year,
    )
    return {r["benefit"]: int(r["n"]) for r in rows}


async def record_use(
    conn: Conn,
    *,
    msisdn: str,
    benefit: str,
    year: int,
    seq: int,
    used_at: datetime,
    place: str | None,
    scheme: str,
    level: str,
    actor: str,
) -> int:
    """Write use number `seq` of the year (the unique key refuses a second writer of the same
    number with UniqueViolationError); its id."""
    use_id = await conn.fetchval(
        """INSERT INTO benefit_uses (msisdn, benefit, year, seq, used_at, place, scheme, level, actor)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
        msisdn,
        benefit,
        year,
        seq,
        used_at,
        place,
        scheme,
        level,
        actor,
    )
    return int(use_id)


async def recent_uses(conn: Conn, msisdn: str, limit: int = 20) -> list[Use]:
    """The latest uses, newest first (the agent's view)."""
    rows = await conn.fetch(
        """SELECT id, benefit, year, seq, used_at, place FROM benefit_uses
           WHERE msisdn = $1 ORDER BY used_at DESC, id DESC LIMIT $2""",
        msisdn,
        limit,
    )
    return [Use(r["id"], r["benefit"], r["year"], r["seq"], r["used_at"], r["place"]) for r in rows]


async def memberships(conn: Conn, msisdn: str) -> dict[str, date]:
    """Club code → the day the customer joined."""
    rows = await conn.fetch("SELECT club, joined_on FROM club_members WHERE msisdn = $1", msisdn)
    return {r["club"]: r["joined_on"] for r in rows}


async def join(conn: Conn, msisdn: str, club: str, joined_on: date, actor: str) -> date | None:
    """Make the customer a member; None when they already were (their joining day is kept)."""
    joined = await conn.fetchval(
        """INSERT INTO club_members (msisdn, club, joined_on, actor) VALUES ($1, $2, $3, $4)
           ON CONFLICT (msisdn, club) DO NOTHING RETURNING joined_on""",
        msisdn,
        club,
        joined_on,
        actor,
    )
    return joined  # type: ignore[no-any-return]  # asyncpg returns the date column as a date
