"""Emergency reactivation (R1–R12) in one PostgreSQL transaction.

`reactivate` claims the Idempotency-Key, locks the subscriber row, re-reads its state
from PostgreSQL (never the cache), verifies identity (R9, lockout counted in
`password_failures`), asks the engine (`decide_reactivation`) and writes, all before
one commit: the grant (`seq` = grants this month + 1, so the unique
(msisdn, grant_month, seq) makes R3/R12 a database constraint), the status change, the
work order with its `created` event (postpaid, R10/W1) or the credit (prepaid, R4),
the audit row (R11, refusals too) and the stored answer for replays. A grant's cache
record and credit state follow the commit (`cache_follows`).

The answer stored for replays is the client's answer, so the edge renders it: the
caller passes `render`, which turns a `Grant` or a refusal (`ServiceError`) into
(status, body) inside the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from entitlements.model import Tier, bottom_level
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.reactivation import AccountState, ReactivationDecision, decide_reactivation
from entitlements.tiers import tier_in_force
from entitlements.workorders import overdue_at
from gateway.logs import number_ref
from gateway.metrics import Metrics
from gateway.services import credit, identity
from gateway.services.consistency import cache_follows
from gateway.services.errors import Conflict, ServiceError
from gateway.stores.queries import audit, idempotency, reactivations, snapshot, subscribers, workorders
from gateway.stores.queries.snapshot import Conn, Snapshot

SCOPE = "reactivations"

#: The human sentence of every refusal code (SPEC §6), Chinese then English.
REFUSALS: dict[str, tuple[str, str]] = {
    "unknown_subscriber": ("该号码不是本网用户。", "The number is not one of our subscribers."),
    "identity_not_verified": (
        "身份未通过验证，不能办理紧急开机。",
        "The customer's identity is not verified (R9).",
    ),
    "cancelled": ("该号码已销户，不能办理紧急开机。", "The number is cancelled (T1.10)."),
    "not_entitled": (
        "客户当前级别不享受紧急开机服务。",
        "The customer's level has no emergency reactivation (R1).",
    ),
    "not_suspended": (
        "该号码未欠费停机，无需紧急开机。",
        "The number is not suspended for arrears (R2, H6).",
    ),
    "not_in_arrears": (
        "该号码没有欠费，不能紧急开机。",
        "The number is suspended but has no month in arrears (H6).",
    ),
    "initial_password": (
        "初始密码不能用于自助服务，请先修改服务密码。",
        "An initial password cannot be used on a self-service channel (H3).",
    ),
    "monthly_limit": (
        "本月紧急开机次数已用完。",
        "This month's emergency reactivation has already been used (R3).",
    ),
    "arrears_too_long": (
        "后付费客户欠费两个月及以上，不能紧急开机。",
        "A postpaid customer with two or more months in arrears gets no reactivation (R7).",
    ),
    "previous_unpaid": (
        "上次紧急开机后仍未缴清欠费，不能再次开机。",
        "An earlier reactivation is still unpaid (R8).",
    ),
}


@dataclass(frozen=True, slots=True)
class ReactivationRequest:
    """A parsed POST /v1/reactivations."""

    msisdn: str
    channel: str
    method: str
    password: str | None
    key: str
    body_hash: str
    actor: str
    role: str
    call_id: str | None = None  # H1: the call whose lookup the service answered
    call_number: str | None = None  # H1: that call's number, from the call memory


@dataclass(frozen=True, slots=True)
class Grant:
    """A reactivation granted and written."""

    id: int
    msisdn: str
    mode: str
    granted_at: datetime
    expires_at: datetime
    tier: Tier
    rules: tuple[str, ...]
    credit_limit_fen: int | None  # prepaid grants (R4)
    days: int | None
    hours: int | None
    work_order_id: int | None  # postpaid grants (R10)


#: The client's answer to a grant or a refusal: (status, body), stored for replays.
Render = Callable[[Grant | ServiceError], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer (as `render` gave it and the key stores it) and what happened."""

    status: int
    body: dict[str, Any]
    replayed: bool
    granted: bool
    code: str | None
    mode: str | None


def request_hash(
    msisdn: str, channel: str, method: str, password: str | None, call_id: str | None = None
) -> str:
    """What a replay of an Idempotency-Key must match (the password only as a keyed hash)."""
    canonical = {
        "msisdn": msisdn,
        "channel": channel,
        "method": method,
        "password": number_ref("service-password:" + password) if password is not None else None,
    }
    if call_id is not None:  # only when sent: keys stored before H1 still replay
        canonical["call_id"] = call_id
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def serving_tier(snap: Snapshot, policy: Policy, today: date) -> Tier:
    """The tier in force today (the scheme's bottom level when none is)."""
    legacy = policy.transition.legacy_scheme if policy.transition else None
    found = tier_in_force(snap.serving(policy.name, legacy), today)
    return found.as_tier() if found else Tier(policy.scheme, bottom_level(policy.scheme))


def account_state(snap: Snapshot, today: date) -> AccountState:
    """What reactivation needs to know about the account (R2, R3, R7, R8)."""
    sub = snap.subscriber
    this_month = Month.of(today)
    return AccountState(
        service_type=sub.service_type,
        payment_mode=sub.payment_mode,
        status=sub.status,
        arrears_months=snap.arrears_months,
        grants_this_month=snap.grants_in_last_month if snap.last_grant_month == this_month else 0,
        unpaid_grant=snap.unpaid_grant,
    )


def refusal(
    code: str, rules: tuple[str, ...], note: tuple[str, str] | None = None, **extra: Any
) -> ServiceError:
    """A refusal with its sentence in zh and en (plus a note, e.g. the attempts left)."""
    zh, en = REFUSALS[code]
    if note is not None:
        zh, en = f"{zh}{note[0]}", f"{en} {note[1]}"
    return ServiceError(code, f"{zh} {en}", detail_zh=zh, detail_en=en, rules=list(rules), **extra)


# --- the grant -----------------------------------------------------------------------


async def _grant(
    conn: Conn,
    policy: Policy,
    req: ReactivationRequest,
    snap: Snapshot,
    tier: Tier,
    decision: ReactivationDecision,
    seq: int,
    now: datetime,
) -> Grant:
    """Write one grant (inside a savepoint)."""
    today = shanghai_today(now)
    expires_at = decision.expires_at(now)
    assert expires_at is not None and decision.mode is not None  # an eligible decision has both
    reactivation_id = await reactivations.insert(
        conn,
        msisdn=req.msisdn,
        grant_month=Month.of(today).first_day,
        seq=seq,
        mode=decision.mode,
        scheme=tier.scheme,
        level=tier.level,
        channel=req.channel,
        actor=req.actor,
        granted_at=now,
        expires_at=expires_at,
        credit_limit_fen=decision.credit_limit_fen,
    )
    await subscribers.set_status(conn, req.msisdn, "active", now)
    work_order_id = None
    if decision.creates_work_order:
        work_order_id = await workorders.create(
            conn,
            reactivation_id=reactivation_id,
            msisdn=req.msisdn,
            city_code=snap.city_code,
            due_at=overdue_at(policy, now),  # W4: the policy's window
            at=now,
            actor=req.actor,
            note=f"emergency reactivation #{reactivation_id} (R10, W1)",
        )
    return Grant(
        id=reactivation_id,
        msisdn=req.msisdn,
        mode=decision.mode,
        granted_at=now,
        expires_at=expires_at,
        tier=tier,
        rules=decision.rules,
        credit_limit_fen=decision.credit_limit_fen,
        days=decision.days,
        hours=decision.hours,
        work_order_id=work_order_id,
    )


async def reactivate(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    req: ReactivationRequest,
    now: datetime,
    render: Render,
) -> Outcome:
    """Decide and record one reactivation request (module doc); replays a claimed key.

    The same key with a different request raises `Conflict`.
    """
    today = shanghai_today(now)
    also = [credit.state_key(req.msisdn)]  # the credit state reloads from PostgreSQL (R4)
    async with (
        pool.acquire() as conn,
        cache_follows(conn, redis, metrics, policy, [req.msisdn], today, also=also) as uow,
    ):
        scope = f"{SCOPE}:{req.actor}"  # keys are the caller's own: another token never replays them
        stored = await idempotency.claim(conn, scope, req.key, req.body_hash)
        if stored is not None:
            uow.unchanged()
            if stored.body_hash != req.body_hash:
                raise Conflict("this Idempotency-Key was used with a different request body; use a new key")
            code = stored.response.get("code")
            return Outcome(stored.status, stored.response, True, False, code, None)
        known, password_hash = await reactivations.password_hash(conn, req.msisdn)
        verification = identity.NOT_VERIFIED
        tier: Tier | None = None
        account: AccountState | None = None
        snap: Snapshot | None = None
        if known:
            claim = identity.Claim(
                req.msisdn, req.channel, req.method, req.password, req.call_id, req.call_number
            )
            verification = await identity.verify(conn, policy, claim, password_hash, now)
        if verification.verified:
            # Identity first (R9, H1): an unverified caller learns nothing about the account,
            # so a wrong password answers the same whatever the number's state.
            snap = await snapshot.load_one(conn, req.msisdn, today)  # PostgreSQL, never the cache
        if snap is not None:
            tier = serving_tier(snap, policy, today)
            account = account_state(snap, today)
        if known and not verification.verified:
            code = verification.code
            rules = ("H3",) if code == "initial_password" else ("R9", "H1")
            decision = ReactivationDecision(False, code, None, None, None, None, rules)
        else:
            decision = decide_reactivation(policy, tier, account, verification.verified)
        result: Grant | ServiceError | None = None
        if decision.eligible and snap is not None and tier is not None and account is not None:
            seq = account.grants_this_month + 1
            try:
                async with conn.transaction():  # a savepoint: a lost race still records its refusal
                    result = await _grant(conn, policy, req, snap, tier, decision, seq, now)
            except asyncpg.UniqueViolationError:
                # Two grants racing for the same (msisdn, month, seq): R3 held by the constraint.
                decision = ReactivationDecision(False, "monthly_limit", None, None, None, None, ("R3", "R12"))
        code = decision.code
        if not decision.eligible:
            assert code is not None  # a refusal always carries its code
            unverified = code in ("identity_not_verified", "initial_password")
            result = refusal(
                code, decision.rules, verification.note if unverified else None,
                **(verification.extra if unverified else {}),
            )  # fmt: skip
            uow.unchanged()  # a refusal changes nothing the cache holds
        assert result is not None
        granted = isinstance(result, Grant)
        await audit.record(
            conn,
            at=now,
            actor=req.actor,
            role=req.role,
            channel=req.channel,
            action="reactivation",
            outcome="granted" if granted else "refused",
            msisdn=req.msisdn,
            code=code,
            detail={
                **verification.audit,
                "rules": list(decision.rules),
                "tier": {"scheme": tier.scheme, "level": tier.level} if tier else None,
                "mode": decision.mode,
                "reactivation_id": result.id if isinstance(result, Grant) else None,
                "work_order_id": result.work_order_id if isinstance(result, Grant) else None,
                "idempotency_key": req.key[:200],
            },
        )
        status, answer = render(result)
        body = await idempotency.complete(conn, scope, req.key, status, answer)
    metrics.reactivations.labels("granted" if granted else "refused", code or "").inc()
    return Outcome(status, body, False, granted, code, decision.mode)
