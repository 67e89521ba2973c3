"""Subscribers: status events (cancellation ends the level at once, T1.10/T2.7) and the
agent's view of one customer, read from PostgreSQL and decided by the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from entitlements.benefits import Benefit, benefits
from entitlements.model import Assignment, Tier, bottom_level
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.reactivation import AccountState, ReactivationDecision, decide_reactivation
from entitlements.routing import Route, route
from entitlements.tiers import tier_in_force
from entitlements.verification import VerificationCheck, check_verification
from gateway.logs import mask
from gateway.metrics import Metrics
from gateway.services import credit
from gateway.services import workorders as orders
from gateway.services.consistency import cache_follows
from gateway.services.errors import ServiceError, unknown_subscriber
from gateway.services.payments import UNPAID_ORDER_STATUSES, owed_fen, settle
from gateway.services.reactivations import account_state, serving_tier
from gateway.services.tokens import Principal
from gateway.stores.queries import audit, reactivations, snapshot, subscribers, tiers, workorders
from gateway.stores.queries.snapshot import Snapshot
from gateway.stores.queries.tiers import StoredEvaluation
from gateway.stores.queries.workorders import WorkOrder

STATUSES = ("active", "suspended", "cancelled")


# --- status events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a status event did."""

    before: str
    status: str
    levels_ended: int
    orders_closed: list[int]

    @property
    def changed(self) -> bool:
        """The status is not what it was."""
        return self.before != self.status


async def change_status(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    msisdn: str,
    status: str,
    note: str | None,
    *,
    actor: str,
    role: str,
    now: datetime,
) -> StatusChange:
    """Record a status event (`unknown_subscriber` for an unknown number); a cancelled
    number stays cancelled (`cancelled`)."""
    today = shanghai_today(now)
    also = [credit.state_key(msisdn)]  # the credit state reloads from PostgreSQL
    async with (
        pool.acquire() as conn,
        cache_follows(conn, redis, metrics, policy, [msisdn], today, also=also),
    ):
        before = await subscribers.lock(conn, msisdn)
        if before is None:
            raise unknown_subscriber()
        if before == "cancelled" and status != "cancelled":
            raise ServiceError(
                "cancelled", "该号码已销户，状态不能再变更。 The number is cancelled; its status is final."
            )
        ended = 0
        closed: list[int] = []
        if status != before:
            await subscribers.set_status(conn, msisdn, status, now)
        if status == "cancelled" and before != "cancelled":
            ended = await subscribers.end_levels(conn, msisdn, today)
            for order in await workorders.open_orders(conn, msisdn, UNPAID_ORDER_STATUSES, lock=True):
                await orders.apply(
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
    change = StatusChange(before, status, ended, closed)
    if change.changed:
        metrics.status_changes.labels(change.status).inc()
    return change


# --- the agent's view ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditState:
    """The latest prepaid credit as PostgreSQL records it (R4/R5)."""

    reactivation_id: int
    limit_fen: int
    used_fen: int
    expires_at: datetime
    active: bool

    @property
    def remaining_fen(self) -> int:
        """What is left to spend."""
        return max(self.limit_fen - self.used_fen, 0)


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """Everything an agent needs about one customer, as of `now`."""

    msisdn: str
    now: datetime
    today: date
    snap: Snapshot
    profile: dict[str, Any]  # the subscriber's facts with branch names and the manager
    tenure_months: int
    tier: Tier
    serving: Assignment | None  # the stored assignment in force (None: the bottom level)
    in_force: StoredEvaluation | None  # the evaluation behind the level in force
    pending: StoredEvaluation | None  # a later evaluation, not in force yet
    explain_zh: list[str]
    explain_en: list[str]
    routed: Route
    benefits: tuple[Benefit, ...]
    outstanding_fen: int
    bills: list[dict[str, Any]]
    verification: VerificationCheck
    account: AccountState
    preview: ReactivationDecision  # what a verified request would get now
    credit: CreditState | None
    reactivations: list[dict[str, Any]]
    orders: list[WorkOrder]


async def view(
    pool: asyncpg.Pool, policy: Policy, msisdn: str, now: datetime, *, principal: Principal, reveal: bool
) -> SubscriberView:
    """The agent's view from one consistent PostgreSQL read; showing the full number is audited."""
    today = shanghai_today(now)
    async with pool.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snap = await snapshot.load_one(conn, msisdn, today)
            row = await subscribers.profile(conn, msisdn)
            if snap is None or row is None:
                raise unknown_subscriber()
            rows = await tiers.explanations(conn, msisdn, policy.name)
            bills = await subscribers.recent_bills(conn, msisdn)
            history = await subscribers.reactivation_history(conn, msisdn)
            open_orders = await workorders.search(
                conn, city_code=None, county_code=None, statuses=UNPAID_ORDER_STATUSES, msisdn=msisdn
            )
            lock = await reactivations.verification_state(conn, msisdn)
        if reveal:
            await audit.record(
                conn, at=now, actor=principal.actor, role=principal.role, action="reveal",
                outcome="shown", msisdn=msisdn, detail={"view": "subscriber"},
            )  # fmt: skip
    tier = serving_tier(snap, policy, today)
    legacy = policy.transition.legacy_scheme if policy.transition else None
    account = account_state(snap, today)
    joined: date = row["joined_on"]
    return SubscriberView(
        msisdn=msisdn,
        now=now,
        today=today,
        snap=snap,
        profile=row,
        tenure_months=Month.of(today) - Month.of(joined) + 1,  # T1.3: the joining month is month 1
        tier=tier,
        serving=tier_in_force(snap.serving(policy.name, legacy), today),
        in_force=next((r for r in rows if r.effective_from <= today), None),
        pending=next((r for r in rows if r.effective_from > today), None),
        explain_zh=explain_lines(snap, rows, policy, today, "zh"),
        explain_en=explain_lines(snap, rows, policy, today, "en"),
        routed=route(policy, tier, snap.subscriber.service_type),  # C2: fixed-network cards
        benefits=benefits(policy, tier, snap.subscriber.service_type),
        outstanding_fen=owed_fen(snap),
        bills=bills,
        verification=check_verification(policy, lock, now),
        account=account,
        preview=decide_reactivation(policy, tier, account, verified=True),
        credit=_credit(next((h for h in history if h["mode"] == "prepaid_credit"), None), now),
        reactivations=history,
        orders=open_orders,
    )


def _credit(latest: dict[str, Any] | None, now: datetime) -> CreditState | None:
    if latest is None:
        return None
    limit, used = latest["credit_limit_fen"], latest["credit_used_fen"]
    return CreditState(
        latest["id"], limit, used, latest["expires_at"], now < latest["expires_at"] and used < limit
    )


def explain_lines(
    snap: Snapshot, rows: list[StoredEvaluation], policy: Policy, today: date, lang: str
) -> list[str]:
    """The tier in force and why, plus a pending change (`callgate explain`, the agent view)."""
    legacy = policy.transition.legacy_scheme if policy.transition else None
    serving = tier_in_force(snap.serving(policy.name, legacy), today)
    zh = lang == "zh"
    if serving is None:
        tier_text = policy.level_name(policy.scheme, bottom_level(policy.scheme), lang)
    else:
        tier_text = policy.level_name(serving.scheme, serving.level, lang)
        if serving.valid_until:
            tier_text += (
                f"（有效期至{serving.valid_until}）" if zh else f" (valid until {serving.valid_until})"
            )
    lines = [f"{mask(snap.subscriber.msisdn)}: " + ("当前级别 " if zh else "current level ") + tier_text]
    if serving is not None and serving.source == "import":
        lines.append(
            "原VIP会员卡（导入），到期后按新分级评定（T1.11）"
            if zh
            else "legacy VIP card (imported), honoured until it expires (T1.11)"
        )
    in_force = next((r for r in rows if r.effective_from <= today), None)
    pending = next((r for r in rows if r.effective_from > today), None)
    if in_force is not None:
        lines.append(in_force.explanation.render(lang, policy))
    if pending is not None:
        lines.append("\n下一期评定：" if zh else "\nPending from the latest evaluation:")
        lines.append(pending.explanation.render(lang, policy))
    if in_force is None and pending is None:
        lines.append("尚无评定记录" if zh else "not evaluated yet")
    return lines
