"""Subscriber status events (cancellation ends the level at once, T1.10/T2.7) and the
reads behind the agent's subscriber view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from entitlements.months import shanghai_today
from gateway.http.problems import ApiError
from gateway.stores.queries import audit, snapshot, workorders
from gateway.stores.queries.payments import UNPAID_ORDER_STATUSES, settle
from gateway.stores.queries.snapshot import Conn

STATUSES = ("active", "suspended", "cancelled")


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a status event did."""

    before: str
    status: str
    levels_ended: int
    orders_closed: list[int]


async def change_status(
    conn: Conn,
    msisdn: str,
    status: str,
    note: str | None,
    *,
    actor: str,
    role: str,
    now: datetime,
    before_commit: Callable[[], Awaitable[object]],
) -> StatusChange | None:
    """Record a status event; None for an unknown number. A cancelled number stays cancelled."""
    today = shanghai_today(now)
    async with conn.transaction():
        before = await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1 FOR UPDATE", msisdn)
        if before is None:
            return None
        if before == "cancelled" and status != "cancelled":
            raise ApiError(
                409,
                "cancelled",
                "该号码已销户，状态不能再变更。 The number is cancelled; its status is final.",
            )
        ended = 0
        closed: list[int] = []
        if status != before:
            await conn.execute(
                "UPDATE subscribers SET status = $2, updated_at = $3 WHERE msisdn = $1", msisdn, status, now
            )
        if status == "cancelled" and before != "cancelled":
            ended = await end_levels(conn, msisdn, today)
            for order in await workorders.open_orders(conn, msisdn, UNPAID_ORDER_STATUSES, lock=True):
                await workorders.apply(
                    conn, order, "close", actor=actor, actor_role="admin", at=now,
                    note=f"number cancelled (T1.10){': ' + note if note else ''}",
                )  # fmt: skip
                closed.append(order.id)
        elif status == "active" and before == "suspended":
            snap = await snapshot.load_one(conn, msisdn, today)
            assert snap is not None  # locked above
            # Lifting by hand when nothing is owed resolves the orders like a payment would (W4).
            _, resolved = await settle(conn, snap, "active", actor=actor, at=now, note="arrears cleared (W4)")
            closed = [i for i, _ in resolved]
        await audit.record(
            conn,
            at=now,
            actor=actor,
            role=role,
            action="status",
            outcome="changed" if status != before else "unchanged",
            msisdn=msisdn,
            detail={"from": before, "to": status, "note": note, "levels_ended": ended, "work_orders": closed},
        )
        await before_commit()
    return StatusChange(before, status, ended, closed)


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


# --- the agent's view ------------------------------------------------------------------


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
