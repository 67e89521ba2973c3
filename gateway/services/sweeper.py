"""The work-order sweeper (W4, H8, H9): an unpaid postpaid reactivation whose window has
ended is marked `overdue`; the number is suspended again (order `resuspended`) only when
the policy says `auto_resuspend = true` (H9 — otherwise the city branch's `resuspend`
does it). VIP-fulfilment orders not done by the month's last day become `overdue` (H8).

Safe with several processes sweeping at once: each order is handled in its own
transaction that first takes the subscriber's row lock with `FOR UPDATE SKIP LOCKED`
(a row someone else holds is left for the next pass) and then re-checks the order under
its lock, so exactly one sweeper records the events. If the customer has meanwhile paid
everything (say, through a payments import), the order is resolved as `paid` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from entitlements.months import shanghai_today
from entitlements.policy import Policy
from entitlements.workorders import is_overdue
from gateway.logs import get_logger
from gateway.metrics import Metrics
from gateway.services import workorders as orders
from gateway.services.consistency import STORE_FAILURES, cache_follows
from gateway.services.payments import owed_fen
from gateway.stores.queries import snapshot, subscribers, workorders

log = get_logger("sweeper")
ACTOR = "system:sweeper"
SWEEP_SECONDS = 3.0
BATCH = 200


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """What one pass did."""

    resuspended: int
    paid: int
    skipped: int
    overdue: int = 0  # H9: marked overdue, left to the city branch
    fulfilment_overdue: int = 0  # H8


async def sweep_once(
    pool: asyncpg.Pool, redis: Redis, metrics: Metrics, policy: Policy, now: datetime, *, batch: int = BATCH
) -> SweepSummary:
    """One pass over the open orders past their deadline (W4)."""
    today = shanghai_today(now)
    resuspended = paid = skipped = overdue_only = 0
    async with pool.acquire() as conn:
        fulfilment_overdue = await workorders.fulfilment_overdue(conn, now, ACTOR)  # H8, one statement
        for order_id, msisdn in await workorders.due(conn, now, batch):
            async with cache_follows(conn, redis, metrics, policy, [msisdn], today) as uow:
                locked = await subscribers.lock_unless_held(conn, msisdn)
                order = await workorders.get(conn, order_id, lock=True) if locked else None
                if order is None or not is_overdue(order.status, order.due_at, now):
                    skipped += 1  # another sweeper or a write path has it, or it was settled meanwhile
                    uow.unchanged()
                    continue
                snap = await snapshot.load_one(conn, msisdn, today)
                assert snap is not None  # locked above
                if owed_fen(snap) == 0:
                    await orders.apply(
                        conn, order, "paid", actor=ACTOR, actor_role=None, at=now,
                        note="arrears found cleared at the deadline (W4)",
                    )  # fmt: skip
                    paid += 1
                else:
                    note = f"unpaid when the window ended at {order.due_at.isoformat()} (W4)"
                    overdue = await orders.apply(
                        conn, order, "overdue", actor=ACTOR, actor_role=None, at=now, note=note
                    )
                    if not policy.work_orders.auto_resuspend:  # H9: the city branch decides
                        overdue_only += 1
                        continue
                    await orders.apply(
                        conn,
                        replace(order, status=overdue),
                        "resuspend",
                        actor=ACTOR,
                        actor_role=None,
                        at=now,
                        note="number suspended again by the city call center (W4)",
                    )
                    resuspended += 1
                    metrics.sweeper.inc()
    return SweepSummary(resuspended, paid, skipped, overdue_only, fulfilment_overdue)


async def sweep_forever(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Callable[[], Policy],
    clock: Callable[[], datetime],
) -> None:
    """Sweep every few seconds for as long as the process runs (a task of the app factory)."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            summary = await sweep_once(pool, redis, metrics, policy(), clock())
        except (*STORE_FAILURES, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            metrics.sweeper_runs.labels("failed").inc()
            metrics.store_errors.labels("postgresql", "sweeper").inc()
            log.warning("sweep_failed", error=type(exc).__name__)
            continue
        except Exception:  # the sweeper must outlive any one bad pass; counted and logged
            metrics.sweeper_runs.labels("crashed").inc()
            metrics.unexpected.labels("sweeper").inc()
            log.exception("sweep_crashed")
            continue
        metrics.sweeper_runs.labels("ok").inc()
        if summary.resuspended or summary.paid or summary.overdue or summary.fulfilment_overdue:
            log.info(
                "swept", resuspended=summary.resuspended, paid=summary.paid, skipped=summary.skipped,
                overdue=summary.overdue, fulfilment_overdue=summary.fulfilment_overdue,
            )  # fmt: skip
