"""Payments (SPEC §6 "Arrears"): a payment settles the oldest unpaid bill first; when
nothing is owed any more an arrears suspension is lifted and the open work order is
resolved as paid (W4), all in one transaction with the audit row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from entitlements.arrears import outstanding_fen
from entitlements.months import shanghai_today
from gateway.stores.queries import audit, snapshot, workorders
from gateway.stores.queries.snapshot import Conn, Snapshot

#: Orders that still wait for the customer's money (R8 counts them as unpaid).
UNPAID_ORDER_STATUSES = ("new", "dispatched", "overdue", "resuspended")


def owed_fen(snap: Snapshot) -> int:
    """What the subscriber still owes: everything billed minus everything paid."""
    return outstanding_fen(snap.billed_fen, sum(snap.paid_fen) + snap.payments_outside_fen)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What recording a payment did."""

    id: int
    duplicate: bool
    outstanding_fen: int
    arrears_months: int
    status_before: str
    status: str
    orders: list[tuple[int, str]]  # (order id, new status)


async def settle(
    conn: Conn, snap: Snapshot, status: str, *, actor: str, at: datetime, note: str
) -> tuple[str, list[tuple[int, str]]]:
    """W4: nothing owed → lift an arrears suspension and resolve the unpaid orders (locked
    subscriber). A re-suspended order is closed (the engine allows only that from there)."""
    if owed_fen(snap) > 0 or status == "cancelled":
        return status, []
    msisdn = snap.subscriber.msisdn
    if status == "suspended":
        await conn.execute(
            "UPDATE subscribers SET status = 'active', updated_at = $2 WHERE msisdn = $1", msisdn, at
        )
        status = "active"
    resolved = []
    for order in await workorders.open_orders(conn, msisdn, UNPAID_ORDER_STATUSES, lock=True):
        kind = "close" if order.status == "resuspended" else "paid"
        new = await workorders.apply(conn, order, kind, actor=actor, actor_role="admin", at=at, note=note)
        resolved.append((order.id, new))
    return status, resolved


async def pay(
    conn: Conn,
    msisdn: str,
    amount_fen: int,
    paid_at: datetime,
    *,
    actor: str,
    role: str,
    now: datetime,
    before_commit: Callable[[], Awaitable[object]],
) -> PaymentResult | None:
    """Record a payment and what follows from it; None for an unknown number."""
    today = shanghai_today(now)
    async with conn.transaction():
        before = await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1 FOR UPDATE", msisdn)
        if before is None:
            return None
        payment_id = await conn.fetchval(
            """INSERT INTO payments (msisdn, paid_at, amount_fen, source) VALUES ($1, $2, $3, 'api')
               ON CONFLICT (msisdn, paid_at, amount_fen) DO NOTHING RETURNING id""",
            msisdn,
            paid_at,
            amount_fen,
        )
        duplicate = payment_id is None
        if duplicate:
            payment_id = await conn.fetchval(
                "SELECT id FROM payments WHERE msisdn = $1 AND paid_at = $2 AND amount_fen = $3",
                msisdn,
                paid_at,
                amount_fen,
            )
        snap = await snapshot.load_one(conn, msisdn, today)
        assert snap is not None  # the row is locked: it exists
        status, orders = await settle(
            conn, snap, before, actor=actor, at=now, note=f"payment #{payment_id} cleared the arrears (W4)"
        )
        await audit.record(
            conn,
            at=now,
            actor=actor,
            role=role,
            action="payment",
            outcome="duplicate" if duplicate else "recorded",
            msisdn=msisdn,
            detail={
                "payment_id": payment_id,
                "amount_fen": amount_fen,
                "paid_at": paid_at.isoformat(),
                "outstanding_fen": owed_fen(snap),
                "status": [before, status],
                "work_orders": [{"id": i, "status": s} for i, s in orders],
            },
        )
        await before_commit()
    return PaymentResult(
        int(payment_id), duplicate, owed_fen(snap), snap.arrears_months, before, status, orders
    )
