"""Payments (SPEC §6 "Arrears"): a payment settles the oldest unpaid bill first; when
nothing is owed any more an arrears suspension is lifted and the open work order is
resolved as paid (W4), all in one transaction with the audit row; the cache follows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from entitlements.arrears import outstanding_fen
from entitlements.months import shanghai_today
from entitlements.policy import Policy
from gateway.metrics import Metrics
from gateway.services import workorders as orders
from gateway.services.consistency import cache_follows
from gateway.services.errors import unknown_subscriber
from gateway.stores.queries import audit, payments, snapshot, subscribers, workorders
from gateway.stores.queries.snapshot import Conn, Snapshot

#: Orders that still wait for the customer's money (R8 counts them as unpaid).
UNPAID_ORDER_STATUSES = ("new", "dispatched", "overdue", "resuspended")


def owed_fen(snap: Snapshot) -> int:
    """What the subscriber still owes: everything billed minus everything paid."""
    paid = sum(snap.paid_fen) + snap.payments_outside_fen + snap.folded_paid_fen
    return outstanding_fen((*snap.billed_fen, snap.folded_billed_fen), paid)


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

    @property
    def lifted(self) -> bool:
        """The payment lifted an arrears suspension (W4)."""
        return self.status_before == "suspended" and self.status == "active"


async def settle(
    conn: Conn, snap: Snapshot, status: str, *, actor: str, at: datetime, note: str
) -> tuple[str, list[tuple[int, str]]]:
    """W4: nothing owed → lift an arrears suspension and resolve the unpaid orders (locked
    subscriber). A re-suspended order is closed (the engine allows only that from there)."""
    if owed_fen(snap) > 0 or status == "cancelled":
        return status, []
    msisdn = snap.subscriber.msisdn
    if status == "suspended":
        await subscribers.set_status(conn, msisdn, "active", at)
        status = "active"
    resolved = []
    for order in await workorders.open_orders(conn, msisdn, UNPAID_ORDER_STATUSES, lock=True):
        kind = "close" if order.status == "resuspended" else "paid"
        new = await orders.apply(conn, order, kind, actor=actor, actor_role="admin", at=at, note=note)
        resolved.append((order.id, new))
    return status, resolved


async def pay(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    msisdn: str,
    amount_fen: int,
    paid_at: datetime,
    *,
    actor: str,
    role: str,
    now: datetime,
) -> PaymentResult:
    """Record a payment and what follows from it; `unknown_subscriber` for an unknown number."""
    today = shanghai_today(now)
    async with pool.acquire() as conn, cache_follows(conn, redis, metrics, policy, [msisdn], today):
        before = await subscribers.lock(conn, msisdn)
        if before is None:
            raise unknown_subscriber()
        payment_id = await payments.insert(conn, msisdn, paid_at, amount_fen)
        duplicate = payment_id is None
        if payment_id is None:
            payment_id = await payments.find(conn, msisdn, paid_at, amount_fen)
        snap = await snapshot.load_one(conn, msisdn, today)
        assert snap is not None  # the row is locked: it exists
        status, resolved = await settle(
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
                "work_orders": [{"id": i, "status": s} for i, s in resolved],
            },
        )
    result = PaymentResult(
        payment_id, duplicate, owed_fen(snap), snap.arrears_months, before, status, resolved
    )
    metrics.payments.labels("duplicate" if duplicate else ("lifted" if result.lifted else "recorded")).inc()
    return result
