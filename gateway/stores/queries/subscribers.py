"""Subscribers as stored: the row lock every write path takes first, status updates,
the end of a cancelled number's levels, and the reads behind the agent's view."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from gateway.stores.queries.snapshot import Conn


async def lock(conn: Conn, msisdn: str) -> str | None:
    """Lock the subscriber row (the first lock of every write path); its status, None if unknown."""
    status = await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1 FOR UPDATE", msisdn)
    return None if status is None else str(status)


async def lock_unless_held(conn: Conn, msisdn: str) -> bool:
    """Lock the subscriber row unless another transaction holds it (SKIP LOCKED); True if locked."""
    locked = await conn.fetchval(
        "SELECT true FROM subscribers WHERE msisdn = $1 FOR UPDATE SKIP LOCKED", msisdn
    )
    return bool(locked)


async def set_status(conn: Conn, msisdn: str, status: str, at: datetime) -> None:
    """A new status for a (locked) subscriber (not `stopped`: see `stop`)."""
    await conn.execute(
        "UPDATE subscribers SET status = $2, stopped_from = NULL, updated_at = $3 WHERE msisdn = $1",
        msisdn,
        status,
        at,
    )


async def suspend_unless_cancelled(conn: Conn, msisdn: str, at: datetime) -> None:
    """Suspend the number again (W4 re-suspension); a cancelled number stays cancelled, and
    a stopped one (H5) stays stopped and is suspended when it restarts."""
    await conn.execute(
        """UPDATE subscribers
           SET status = CASE WHEN status = 'stopped' THEN 'stopped' ELSE 'suspended' END,
               stopped_from = CASE WHEN status = 'stopped' THEN 'suspended' END, updated_at = $2
           WHERE msisdn = $1 AND status <> 'cancelled'""",
        msisdn,
        at,
    )


async def set_manager(conn: Conn, msisdn: str, manager_id: int, at: datetime) -> None:
    """H8: the customer manager a done manager assignment named."""
    await conn.execute(
        "UPDATE subscribers SET manager_id = $2, updated_at = $3 WHERE msisdn = $1", msisdn, manager_id, at
    )


async def stop(conn: Conn, msisdn: str, at: datetime) -> None:
    """H5: emergency stop of a (locked) active or suspended number; the status it had is kept."""
    await conn.execute(
        """UPDATE subscribers SET stopped_from = status, status = 'stopped', updated_at = $2
           WHERE msisdn = $1 AND status IN ('active', 'suspended')""",
        msisdn,
        at,
    )


async def restart(conn: Conn, msisdn: str, at: datetime) -> str | None:
    """H5: a (locked) stopped number returns to the status it had before the stop; that status."""
    value = await conn.fetchval(
        """UPDATE subscribers SET status = stopped_from, stopped_from = NULL, updated_at = $2
           WHERE msisdn = $1 AND status = 'stopped' RETURNING status""",
        msisdn,
        at,
    )
    return None if value is None else str(value)


async def count(conn: Conn) -> int:
    """How many subscribers there are."""
    return int(await conn.fetchval("SELECT count(*) FROM subscribers"))


async def end_levels(conn: Conn, msisdn: str, today: date) -> int:
    """T1.10 / T2.7: every level in force ends yesterday; one not started yet is voided
    (ends the day before it starts). Returns the assignments ended."""
    result = await conn.execute(
        """UPDATE tier_assignments
           SET valid_until = greatest($2::date - 1, effective_from - 1)
           WHERE msisdn = $1 AND (valid_until IS NULL OR valid_until >= $2::date)""",
        msisdn,
        today,
    )
    return int(result.split()[-1])


# --- the agent's view ----------------------------------------------------------------


async def profile(conn: Conn, msisdn: str) -> dict[str, Any] | None:
    """The subscriber's facts with branch names and the customer manager."""
    row = await conn.fetchrow(
        """SELECT s.msisdn, s.service_type, s.network, s.payment_mode, s.plan_code, s.brand, s.status,
                  s.joined_on, s.city_code, city.name AS city_name, s.county_code,
                  county.name AS county_name, s.flags, s.lucky_class, s.contract_plan, s.suspensions,
                  s.birthday, s.dnd, s.password_hash IS NOT NULL AS password_set, s.updated_at,
                  m.id AS manager_id, m.name AS manager_name, m.phone AS manager_phone,
                  m.city_code AS manager_city
           FROM subscribers s
           JOIN branches city ON city.code = s.city_code
           LEFT JOIN branches county ON county.code = s.county_code
           LEFT JOIN customer_managers m ON m.id = s.manager_id
           WHERE s.msisdn = $1""",
        msisdn,
    )
    return None if row is None else dict(row)


async def recent_bills(conn: Conn, msisdn: str, months: int = 6) -> list[dict[str, Any]]:
    """The latest bill months, newest first."""
    rows = await conn.fetch(
        """SELECT to_char(month, 'YYYY-MM') AS month, billed_fen, paid_fen FROM bills
           WHERE msisdn = $1 ORDER BY month DESC LIMIT $2""",
        msisdn,
        months,
    )
    return [dict(r) for r in rows]


async def reactivation_history(conn: Conn, msisdn: str, limit: int = 12) -> list[dict[str, Any]]:
    """The number's reactivations, newest first, with their work order."""
    rows = await conn.fetch(
        """SELECT r.id, r.mode, r.scheme, r.level, r.channel, r.actor, r.granted_at, r.expires_at,
                  r.credit_limit_fen, r.credit_used_fen, w.id AS work_order_id, w.status AS work_order_status
           FROM reactivations r LEFT JOIN work_orders w ON w.reactivation_id = r.id
           WHERE r.msisdn = $1 ORDER BY r.granted_at DESC, r.id DESC LIMIT $2""",
        msisdn,
        limit,
    )
    return [dict(r) for r in rows]
