"""Work orders (W1–W6): who sees which orders, and events through the engine's state machine.

Scoping (W5): a `branch` token sees its own branch — a city branch its orders and its
counties', a county branch the orders dispatched to it; anything else is `not_found`,
as if it did not exist. Agents read everything; admins read and act on everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from entitlements.errors import WorkOrderError
from entitlements.months import shanghai_today
from entitlements.policy import Policy
from entitlements.workorders import apply_event, events_allowed, extended_due, is_overdue
from gateway.metrics import Metrics
from gateway.services.consistency import cache_follows
from gateway.services.errors import ServiceError, invalid_request
from gateway.services.tokens import Principal
from gateway.stores.queries import managers, subscribers, workorders
from gateway.stores.queries.snapshot import Conn
from gateway.stores.queries.workorders import OrderEvent, WorkOrder


@dataclass(frozen=True, slots=True)
class Scope:
    """What a caller may see: everything, one city (with its counties) or one county."""

    level: str  # "all" | "city" | "county"
    code: str | None = None

    def sees(self, order: WorkOrder) -> bool:
        """Whether the order is within this scope."""
        if self.level == "city":
            return order.city_code == self.code
        if self.level == "county":
            return order.county_code == self.code
        return True


def not_found(order_id: int) -> ServiceError:
    """No such order, or one outside the caller's branch (W5: the same answer)."""
    return ServiceError("not_found", f"no work order {order_id} in your branch")


async def scope_of(conn: Conn, principal: Principal) -> Scope:
    """The caller's scope (a branch token without a known city/county branch sees nothing)."""
    if principal.role != "branch":
        return Scope("all")
    assert principal.branch_code is not None  # branch tokens always carry their branch
    found = await workorders.branch(conn, principal.branch_code)
    if found is None or found.level not in ("city", "county"):
        raise ServiceError("forbidden", "this token's branch is not a city or county branch")
    return Scope(found.level, found.code)


async def apply(
    conn: Conn,
    order: WorkOrder,
    kind: str,
    *,
    actor: str,
    actor_role: str | None,
    at: datetime,
    note: str | None = None,
    county_code: str | None = None,
    tracker: str | None = None,
    hours: int | None = None,
    max_hours: int = 72,
    manager_id: int | None = None,
) -> str:
    """W2–W6, H8, H9 through the engine's state machine on a locked order (subscriber locked first).

    `resuspend` also suspends the number again (W4) unless it was cancelled; `extend` moves
    the deadline (H9); `done` on a manager assignment sets the manager on the subscriber
    (H8). Raises the engine's `WorkOrderError` for an illegal event. Returns the new status.
    """
    new = apply_event(
        order.status, kind, county_code=county_code, tracker=tracker or order.tracker, note=note,
        actor_role=actor_role, kind=order.kind, hours=hours, max_hours=max_hours, manager_id=manager_id,
    )  # fmt: skip
    due_at = extended_due(order.due_at, at, hours) if kind == "extend" and hours is not None else None
    await workorders.transition(
        conn,
        order,
        kind,
        new,
        actor,
        note,
        at,
        county_code=county_code if kind == "dispatch" else None,
        tracker=tracker if kind == "dispatch" else None,
        due_at=due_at,
        manager_id=manager_id if kind == "done" else None,
    )
    if kind == "resuspend":
        await subscribers.suspend_unless_cancelled(conn, order.msisdn, at)
    if kind == "done" and order.kind == "manager_assignment" and manager_id is not None:
        await subscribers.set_manager(conn, order.msisdn, manager_id, at)
    return new


async def search(
    pool: asyncpg.Pool,
    principal: Principal,
    *,
    branch: str | None,
    statuses: Sequence[str] | None,
    before_id: int | None,
    limit: int,
    kinds: Sequence[str] | None = None,
) -> list[WorkOrder]:
    """Orders in the caller's scope, newest first, narrowed to `branch` (which must lie within it)."""
    async with pool.acquire() as conn:
        scope = await scope_of(conn, principal)
        city, county = (scope.code, None) if scope.level == "city" else (None, scope.code)
        if branch is not None:
            found = await workorders.branch(conn, branch)
            if found is None:
                raise invalid_request(f"unknown branch {branch!r}", "branch")
            inside = (
                scope.level == "all"
                or found.code == scope.code
                or (scope.level == "city" and found.parent_code == scope.code)
            )
            if not inside:
                raise ServiceError("forbidden", f"branch {branch} is outside your branch")
            if found.level == "city":
                city = found.code
            elif found.level == "county":
                county = found.code
        return await workorders.search(
            conn, city_code=city, county_code=county, statuses=statuses, before_id=before_id, limit=limit,
            kinds=kinds,
        )  # fmt: skip


async def read(pool: asyncpg.Pool, principal: Principal, order_id: int) -> tuple[WorkOrder, list[OrderEvent]]:
    """One order in the caller's scope with its event history (W5)."""
    async with pool.acquire() as conn:
        scope = await scope_of(conn, principal)
        order = await workorders.get(conn, order_id)
        if order is None or not scope.sees(order):
            raise not_found(order_id)
        return order, await workorders.history(conn, order_id)


async def record_event(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    principal: Principal,
    order_id: int,
    kind: str,
    *,
    county_code: str | None,
    tracker: str | None,
    note: str | None,
    now: datetime,
    hours: int | None = None,
    manager_id: int | None = None,
) -> tuple[WorkOrder, list[OrderEvent]]:
    """Apply one event (W2–W6, H8, H9) as `principal`; the order after it, with its history.

    Branch staff record only the events their level may (W5, policy data)."""
    async with pool.acquire() as conn:
        scope = await scope_of(conn, principal)
        msisdn = await workorders.msisdn_of(conn, order_id)
        if msisdn is None:
            raise not_found(order_id)
        async with cache_follows(conn, redis, metrics, policy, [msisdn], shanghai_today(now)) as uow:
            # Lock order: the subscriber first, then the order (as every write path does).
            await subscribers.lock(conn, msisdn)
            order = await workorders.get(conn, order_id, lock=True)
            if order is None or not scope.sees(order):
                raise not_found(order_id)
            if scope.level != "all" and kind not in events_allowed(policy, scope.level):
                raise ServiceError("forbidden", f"a {scope.level} branch may not record {kind!r} events")
            # an illegal event raises WorkOrderError: the edge maps it to a 409 problem
            max_hours = policy.work_orders.extend_max_hours
            apply_event(
                order.status, kind, county_code=county_code, tracker=tracker or order.tracker, note=note,
                actor_role=principal.role, kind=order.kind, hours=hours, max_hours=max_hours,
                manager_id=manager_id,
            )  # fmt: skip
            if kind == "done" and manager_id is not None:
                city = await managers.branch_of(conn, manager_id)
                if city != order.city_code:
                    raise invalid_request(
                        f"manager {manager_id} is not a customer manager of {order.city_code} (H8)",
                        "manager_id",
                    )
            if kind == "dispatch":
                assert county_code is not None  # the engine requires it for dispatch
                county = await workorders.branch(conn, county_code)
                if county is None or county.level != "county" or county.parent_code != order.city_code:
                    raise invalid_request(
                        f"{county_code!r} is not a county branch of {order.city_code} (W2)", "county_code"
                    )
            if kind == "overdue" and not is_overdue(order.status, order.due_at, now):
                raise WorkOrderError(
                    f"the order is due at {order.due_at.isoformat()}; not overdue yet (W4)",
                    code="invalid_transition",
                    status=order.status,
                    event=kind,
                )
            await apply(
                conn, order, kind, actor=principal.actor, actor_role=principal.role, at=now, note=note,
                county_code=county_code, tracker=tracker, hours=hours, max_hours=max_hours,
                manager_id=manager_id,
            )  # fmt: skip
            if kind in ("remind", "extend"):  # nothing a cache record holds changes
                uow.unchanged()
        updated = await workorders.get(conn, order_id)
        events = await workorders.history(conn, order_id)
    assert updated is not None
    metrics.work_order_events.labels(kind).inc()
    return updated, events
