"""VIP services with yearly quotas (V1), clubs (V2), and what the agent's view shows of a
customer's points, services and clubs (P2, P3, V1, V2).

Recording a use locks the subscriber row, counts the year's uses and writes use number
n + 1 (unique per subscriber, service and year) in one transaction: two agents recording
the last lounge visit at once get one success and one `quota_used`. Refusals are audited
like uses; none of this is in the cache record, so the cache is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from entitlements.clubs import ClubStatus, clubs, decide_join, find_club
from entitlements.model import Tier
from entitlements.months import shanghai_today
from entitlements.points import PointsSummary, summary
from entitlements.policy import Policy
from entitlements.quotas import Service, decide_use, place_problem, service, services
from gateway.services.errors import ServiceError, invalid_request, unknown_subscriber
from gateway.services.reactivations import serving_tier
from gateway.stores.queries import audit, snapshot, subscribers, vip
from gateway.stores.queries import points as ledger_rows
from gateway.stores.queries.snapshot import Snapshot

#: The sentence of every refusal, Chinese then English.
REFUSALS: dict[str, tuple[str, str]] = {
    "not_entitled": (
        "客户当前级别不享受该项服务。",
        "The customer's level does not include this service (V1).",
    ),
    "quota_used": ("该项服务本年度的次数已用完。", "This year's uses of the service are used up (V1)."),
    "tenure_too_short": (
        "非VIP客户在网满{months}个月后方可加入俱乐部（可加入日期：{eligible_from}）。",
        "Customers who are not VIPs join after {months} months in the network (from {eligible_from}) (V2).",
    ),
    "cancelled": ("该号码已销户。", "The number is cancelled."),
}


def refusal(code: str, rules: tuple[str, ...], **extra: Any) -> ServiceError:
    """A refusal with its sentence in zh and en (placeholders from `extra`)."""
    zh, en = (text.format(**extra) for text in REFUSALS[code])
    return ServiceError(code, f"{zh} {en}", detail_zh=zh, detail_en=en, rules=list(rules), **extra)


# --- the agent's view ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoyaltyView:
    """Points, services with their quotas, and clubs of one customer, as of `today`."""

    today: date
    points: PointsSummary | None
    redemptions: list[dict[str, Any]]
    services: tuple[Service, ...]
    uses: list[vip.Use]
    clubs: tuple[ClubStatus, ...]


async def view(pool: asyncpg.Pool, policy: Policy, snap: Snapshot, tier: Tier, today: date) -> LoyaltyView:
    """P2/P3 from the snapshot's points, V1 and V2 from this year's uses and the memberships."""
    msisdn = snap.subscriber.msisdn
    async with pool.acquire() as conn:
        redemptions = await ledger_rows.recent_redemptions(conn, msisdn) if snap.points is not None else []
        used = await vip.uses_in_year(conn, msisdn, today.year)
        recent = await vip.recent_uses(conn, msisdn)
        members = await vip.memberships(conn, msisdn)
    return LoyaltyView(
        today=today,
        points=summary(snap.points, policy.points.threshold, today) if snap.points is not None else None,
        redemptions=redemptions,
        services=services(policy, tier, used, snap.subscriber.service_type),
        uses=recent,
        clubs=clubs(policy, tier, snap.subscriber.joined_on, today, members),
    )


# --- V1: a use of a service ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UseRecorded:
    """A use written, and what is left of the year's quota."""

    id: int
    benefit: str
    year: int
    used: int
    quota: int | None
    remaining: int | None
    at: datetime
    place: str | None
    rules: tuple[str, ...]


async def record_use(
    pool: asyncpg.Pool,
    policy: Policy,
    msisdn: str,
    code: str,
    at: datetime,
    place: str | None,
    *,
    actor: str,
    role: str,
    now: datetime,
) -> UseRecorded:
    """V1: record one use (`at`'s calendar year and tier); refusals `not_entitled`,
    `quota_used` (audited), `unknown_benefit`, `unknown_subscriber`, `cancelled`."""
    day = shanghai_today(at)
    async with pool.acquire() as conn, conn.transaction():
        status = await subscribers.lock(conn, msisdn)  # serialises the count and the write
        if status is None:
            raise unknown_subscriber()
        if status == "cancelled":
            raise refusal("cancelled", ("T1.10",))
        snap = await snapshot.load_one(conn, msisdn, day)
        assert snap is not None  # locked above
        tier = serving_tier(snap, policy, day)
        used = (await vip.uses_in_year(conn, msisdn, day.year)).get(code, 0)
        found = service(policy, tier, code, used, snap.subscriber.service_type)
        if found is None:
            raise ServiceError(
                "unknown_benefit", f"no benefit or service {code!r} in the policy", field="code"
            )
        problem = place_problem(found, place)
        if problem is not None:
            raise invalid_request(problem, "place")
        decision = decide_use(found)
        use_id = None
        if decision.allowed:
            use_id = await vip.record_use(
                conn, msisdn=msisdn, benefit=code, year=day.year, seq=used + 1, used_at=at,
                place=place, scheme=tier.scheme, level=tier.level, actor=actor,
            )  # fmt: skip
        await audit.record(
            conn, at=now, actor=actor, role=role, channel="agent", action="benefit_use",
            outcome="recorded" if use_id is not None else "refused", msisdn=msisdn, code=decision.code,
            detail={"benefit": code, "year": day.year, "used_before": used, "quota": found.quota,
                    "place": place, "tier": {"scheme": tier.scheme, "level": tier.level},
                    "rules": list(decision.rules), "use_id": use_id},
        )  # fmt: skip
    if use_id is None:
        assert decision.code is not None  # a refusal always carries its code
        raise refusal(decision.code, decision.rules, quota=found.quota, used=used, year=day.year)
    return UseRecorded(
        use_id, code, day.year, used + 1, found.quota, decision.remaining_after, at, place, decision.rules
    )


# --- V2: joining a club ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClubJoined:
    """A membership: new (`created`) or the one the customer already had."""

    club: str
    joined_on: date
    created: bool
    rules: tuple[str, ...]


async def join_club(
    pool: asyncpg.Pool, policy: Policy, msisdn: str, code: str, *, actor: str, role: str, now: datetime
) -> ClubJoined:
    """V2: a VIP joins at once, anyone else after the policy's months in the network
    (`tenure_too_short`, audited); joining again keeps the first joining day."""
    today = shanghai_today(now)
    club = find_club(policy, code)
    if club is None:
        raise ServiceError("unknown_club", f"no club {code!r} in the policy", field="code")
    async with pool.acquire() as conn, conn.transaction():
        status = await subscribers.lock(conn, msisdn)
        if status is None:
            raise unknown_subscriber()
        if status == "cancelled":
            raise refusal("cancelled", ("T1.10",))
        snap = await snapshot.load_one(conn, msisdn, today)
        assert snap is not None  # locked above
        tier = serving_tier(snap, policy, today)
        decision = decide_join(policy, tier, snap.subscriber.joined_on, today)
        joined = await vip.join(conn, msisdn, code, today, actor) if decision.allowed else None
        members = await vip.memberships(conn, msisdn)
        await audit.record(
            conn, at=now, actor=actor, role=role, channel="agent", action="club_join",
            outcome="joined" if joined else ("member" if decision.allowed else "refused"),
            msisdn=msisdn, code=decision.code,
            detail={"club": code, "tier": {"scheme": tier.scheme, "level": tier.level},
                    "eligible_from": decision.eligible_from.isoformat(), "rules": list(decision.rules)},
        )  # fmt: skip
    if not decision.allowed:
        assert decision.code is not None  # a refusal always carries its code
        raise refusal(
            decision.code, decision.rules, months=policy.clubs.min_tenure_months,
            eligible_from=decision.eligible_from.isoformat(),
        )  # fmt: skip
    return ClubJoined(code, members[code], joined is not None, decision.rules)
