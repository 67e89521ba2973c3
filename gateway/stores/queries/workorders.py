"""Work orders (W1–W6) and their append-only event history, as stored (the state machine
is the engine's, applied by `gateway.services.workorders`).

Lock order, shared by every write path: the subscriber row first, then its orders —
reactivation, payments, status changes, order events and the sweeper all take the
locks in that order, so they cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from gateway.stores.queries.snapshot import Conn

_COLUMNS = """w.id, w.reactivation_id, w.msisdn, w.city_code, w.county_code, w.status, w.tracker,
              w.due_at, w.created_at, w.updated_at, s.county_code AS subscriber_county, w.kind,
              w.manager_id"""
#: H8: what an order of each fulfilment kind is about (its `created` event's note).
_FULFILMENT_NOTES = {
    "manager_assignment": "assign a customer manager by the month's last day (H8, Q3)",
    "card_issue": "issue the VIP card by the month's last day (H8, T2)",
}


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """One work order as stored."""

    id: int
    reactivation_id: int | None  # reactivation follow-ups only (H8)
    msisdn: str
    city_code: str
    county_code: str | None
    status: str
    tracker: str | None
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    #: The subscriber's own county: where the city usually dispatches the order (W2).
    subscriber_county: str | None
    #: H8: reactivation_followup | manager_assignment | card_issue.
    kind: str = "reactivation_followup"
    #: H8: the manager a done manager assignment named.
    manager_id: int | None = None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One entry of an order's history (W5)."""

    id: int
    kind: str
    from_status: str | None
    to_status: str
    actor: str
    note: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Branch:
    """A branch of the organisation (province, city or county)."""

    code: str
    name: str
    level: str
    parent_code: str | None


def _order(r: asyncpg.Record) -> WorkOrder:
    return WorkOrder(
        int(r["id"]),
        None if r["reactivation_id"] is None else int(r["reactivation_id"]),
        r["msisdn"],
        r["city_code"],
        r["county_code"],
        r["status"],
        r["tracker"],
        r["due_at"],
        r["created_at"],
        r["updated_at"],
        r["subscriber_county"],
        r["kind"],
        r["manager_id"],
    )


async def create(
    conn: Conn,
    *,
    reactivation_id: int,
    msisdn: str,
    city_code: str,
    due_at: datetime,
    at: datetime,
    actor: str,
    note: str,
) -> int:
    """W1/R10: a new order at the subscriber's city branch, with its `created` event."""
    order_id = await conn.fetchval(
        """INSERT INTO work_orders (reactivation_id, msisdn, city_code, status, due_at, created_at,
                                    updated_at)
           VALUES ($1, $2, $3, 'new', $4, $5, $5) RETURNING id""",
        reactivation_id,
        msisdn,
        city_code,
        due_at,
        at,
    )
    await add_event(conn, int(order_id), "created", None, "new", actor, note, at)
    return int(order_id)


async def add_event(
    conn: Conn,
    order_id: int,
    kind: str,
    from_status: str | None,
    to_status: str,
    actor: str,
    note: str | None,
    at: datetime,
) -> None:
    """Append one event to an order's history (W5; the table refuses updates and deletes)."""
    await conn.execute(
        """INSERT INTO work_order_events (order_id, kind, from_status, to_status, actor, note, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        order_id,
        kind,
        from_status,
        to_status,
        actor,
        note,
        at,
    )


async def transition(
    conn: Conn,
    order: WorkOrder,
    kind: str,
    to_status: str,
    actor: str,
    note: str | None,
    at: datetime,
    *,
    county_code: str | None = None,
    tracker: str | None = None,
    due_at: datetime | None = None,
    manager_id: int | None = None,
) -> None:
    """Move a locked order to `to_status` and record the event (dispatch also sets county and
    tracker; extend the deadline, H9; done on a manager assignment the manager, H8)."""
    await conn.execute(
        """UPDATE work_orders
           SET status = $2, updated_at = $3,
               county_code = coalesce($4, county_code), tracker = coalesce($5, tracker),
               due_at = coalesce($6, due_at), manager_id = coalesce($7, manager_id)
           WHERE id = $1""",
        order.id,
        to_status,
        at,
        county_code,
        tracker,
        due_at,
        manager_id,
    )
    await add_event(conn, order.id, kind, order.status, to_status, actor, note, at)


async def get(conn: Conn, order_id: int, *, lock: bool = False) -> WorkOrder | None:
    """One order (locked FOR UPDATE when `lock`)."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM work_orders w JOIN subscribers s ON s.msisdn = w.msisdn
            WHERE w.id = $1 {"FOR UPDATE OF w" if lock else ""}""",  # noqa: S608 - constant fragments
        order_id,
    )
    return None if row is None else _order(row)


async def msisdn_of(conn: Conn, order_id: int) -> str | None:
    """The number an order is about (to lock the subscriber first)."""
    value = await conn.fetchval("SELECT msisdn FROM work_orders WHERE id = $1", order_id)
    return None if value is None else str(value)


async def history(conn: Conn, order_id: int) -> list[OrderEvent]:
    """An order's events, oldest first."""
    rows = await conn.fetch(
        """SELECT id, kind, from_status, to_status, actor, note, at
           FROM work_order_events WHERE order_id = $1 ORDER BY id""",
        order_id,
    )
    return [
        OrderEvent(int(r["id"]), r["kind"], r["from_status"], r["to_status"], r["actor"], r["note"], r["at"])
        for r in rows
    ]


async def search(
    conn: Conn,
    *,
    city_code: str | None,
    county_code: str | None,
    statuses: Sequence[str] | None,
    msisdn: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    kinds: Sequence[str] | None = None,
) -> list[WorkOrder]:
    """Orders newest first, filtered by city, county, statuses, number and kinds (H8)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM work_orders w JOIN subscribers s ON s.msisdn = w.msisdn
            WHERE ($1::text IS NULL OR w.city_code = $1)
              AND ($2::text IS NULL OR w.county_code = $2)
              AND ($3::text[] IS NULL OR w.status = ANY($3::text[]))
              AND ($4::text IS NULL OR w.msisdn = $4)
              AND ($5::bigint IS NULL OR w.id < $5)
              AND ($7::text[] IS NULL OR w.kind = ANY($7::text[]))
            ORDER BY w.id DESC LIMIT $6""",  # noqa: S608 - constant fragments
        city_code,
        county_code,
        list(statuses) if statuses is not None else None,
        msisdn,
        before_id,
        limit,
        list(kinds) if kinds is not None else None,
    )
    return [_order(r) for r in rows]


async def open_orders(
    conn: Conn, msisdn: str, statuses: Sequence[str], *, lock: bool = False
) -> list[WorkOrder]:
    """A subscriber's orders in `statuses`, oldest first (locked when `lock`; lock the subscriber first)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM work_orders w JOIN subscribers s ON s.msisdn = w.msisdn
            WHERE w.msisdn = $1 AND w.status = ANY($2::text[])
            ORDER BY w.id {"FOR UPDATE OF w" if lock else ""}""",  # noqa: S608 - constant fragments
        msisdn,
        list(statuses),
    )
    return [_order(r) for r in rows]


async def due(conn: Conn, now: datetime, limit: int) -> list[tuple[int, str]]:
    """W4: (id, number) of open orders whose deadline has passed, oldest deadline first."""
    rows = await conn.fetch(
        """SELECT id, msisdn FROM work_orders
           WHERE status IN ('new', 'dispatched') AND due_at <= $1 AND kind = 'reactivation_followup'
           ORDER BY due_at, id LIMIT $2""",
        now,
        limit,
    )
    return [(int(r["id"]), str(r["msisdn"])) for r in rows]


async def branch(conn: Conn, code: str) -> Branch | None:
    """A branch by code."""
    row = await conn.fetchrow("SELECT code, name, level, parent_code FROM branches WHERE code = $1", code)
    return None if row is None else Branch(row["code"], row["name"], row["level"], row["parent_code"])


async def fulfilment_overdue(conn: Conn, now: datetime, actor: str) -> int:
    """H8: every new fulfilment order past its deadline becomes `overdue` (with its event)."""
    value = await conn.fetchval(
        """WITH moved AS (
               UPDATE work_orders SET status = 'overdue', updated_at = $1
               WHERE kind <> 'reactivation_followup' AND status = 'new' AND due_at <= $1
               RETURNING id),
           logged AS (
               INSERT INTO work_order_events (order_id, kind, from_status, to_status, actor, note, at)
               SELECT id, 'overdue', 'new', 'overdue', $2, 'not done by the month''s last day (H8)', $1
               FROM moved RETURNING order_id)
           SELECT count(*) FROM logged""",
        now,
        actor,
    )
    return int(value)


async def create_fulfilment(
    conn: Conn,
    *,
    policy: str,
    month: date,
    manager_levels: Sequence[tuple[str, str, str]],
    card_schemes: Sequence[str],
    no_card_levels: Sequence[str],
    due_at: datetime,
    at: datetime,
    actor: str,
) -> dict[str, int]:
    """H8: after the evaluation of `month`, one `manager_assignment` per subscriber who newly
    reached a level with a customer manager (`manager_levels`: service type, scheme, level)
    and has none, one `card_issue` per new or raised card — at their city branch, each once
    per subscriber, kind and month (a re-run creates none twice). Counts by kind."""
    services = [m[0] for m in manager_levels]
    schemes = [m[1] for m in manager_levels]
    levels = [m[2] for m in manager_levels]
    rows = await conn.fetch(
        """WITH entitled AS (
               SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) AS e(service, scheme, level)),
           candidates AS (
               SELECT t.msisdn, s.city_code, 'manager_assignment' AS kind
               FROM tier_assignments t
               JOIN subscribers s ON s.msisdn = t.msisdn
               JOIN entitled e ON e.service = s.service_type AND e.scheme = t.scheme AND e.level = t.level
               WHERE t.policy = $1 AND t.evaluated_month = $2 AND t.change IN ('new', 'raised')
                 AND s.manager_id IS NULL AND s.status <> 'cancelled'
                 AND NOT EXISTS (SELECT 1 FROM entitled p WHERE p.service = s.service_type
                                   AND p.scheme = t.scheme AND p.level = t.previous_level)
               UNION ALL
               SELECT t.msisdn, s.city_code, 'card_issue'
               FROM tier_assignments t
               JOIN subscribers s ON s.msisdn = t.msisdn
               WHERE t.policy = $1 AND t.evaluated_month = $2 AND t.change IN ('new', 'raised')
                 AND t.scheme = ANY($6::text[]) AND t.level <> ALL($7::text[])
                 AND s.status <> 'cancelled'),
           made AS (
               INSERT INTO work_orders (kind, msisdn, city_code, status, due_at, month, created_at,
                                        updated_at)
               SELECT kind, msisdn, city_code, 'new', $8, $2, $9, $9 FROM candidates
               ON CONFLICT (msisdn, kind, month) WHERE kind <> 'reactivation_followup' DO NOTHING
               RETURNING id, kind),
           logged AS (
               INSERT INTO work_order_events (order_id, kind, from_status, to_status, actor, note, at)
               SELECT id, 'created', NULL, 'new', $10,
                      CASE kind WHEN 'manager_assignment' THEN $11 ELSE $12 END, $9
               FROM made RETURNING order_id)
           SELECT m.kind, count(*) AS n FROM made m GROUP BY m.kind""",
        policy,
        month,
        services,
        schemes,
        levels,
        list(card_schemes),
        list(no_card_levels),
        due_at,
        at,
        actor,
        _FULFILMENT_NOTES["manager_assignment"],
        _FULFILMENT_NOTES["card_issue"],
    )
    return {str(r["kind"]): int(r["n"]) for r in rows}
