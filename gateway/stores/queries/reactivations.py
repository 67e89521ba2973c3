"""Emergency reactivation (R1–R12) in one PostgreSQL transaction.

`reactivate` claims the Idempotency-Key, locks the subscriber row, re-reads its state
from PostgreSQL (never the cache), verifies identity (R9, lockout counted in
`password_failures`), asks the engine (`decide_reactivation`) and writes, all before
one commit: the grant (`seq` = grants this month + 1, so the unique
(msisdn, grant_month, seq) makes R3/R12 a database constraint), the status change, the
work order with its `created` event (postpaid, R10/W1) or the credit (prepaid, R4),
the audit row (R11, refusals too) and the stored answer for replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from entitlements.model import Tier, bottom_level
from entitlements.money import format_fen
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.reactivation import AccountState, ReactivationDecision, decide_reactivation
from entitlements.tiers import tier_in_force
from entitlements.verification import (
    VerificationState,
    check_verification,
    record_failure,
    record_success,
)
from entitlements.workorders import overdue_at
from gateway.http.problems import PROBLEM_TYPE, TITLES, ApiError
from gateway.stores.queries import audit, idempotency, snapshot, workorders
from gateway.stores.queries.snapshot import Conn, Snapshot

SCOPE = "reactivations"
_HASHER = PasswordHasher()

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
        "The number is not suspended for arrears (R2).",
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """The HTTP answer (stored for replays) and what happened."""

    status: int
    body: dict[str, Any]
    replayed: bool
    code: str | None
    mode: str | None


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


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem as a dict (stored for replays, sent as problem+json)."""
    return {
        "type": PROBLEM_TYPE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def refusal_body(
    code: str, rules: tuple[str, ...], note: tuple[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """The 409 (404 for an unknown number) problem of a refusal, with its sentence in zh and en."""
    zh, en = REFUSALS[code]
    if note is not None:
        zh, en = f"{zh}{note[0]}", f"{en} {note[1]}"
    status = 404 if code == "unknown_subscriber" else 409
    return problem_body(status, code, f"{zh} {en}", detail_zh=zh, detail_en=en, rules=list(rules), **extra)


# --- R9: identity verification -------------------------------------------------------


async def verification_state(conn: Conn, msisdn: str) -> VerificationState:
    """The stored wrong-password count and lock of a number."""
    row = await conn.fetchrow(
        "SELECT failures, locked_until FROM password_failures WHERE msisdn = $1", msisdn
    )
    return VerificationState() if row is None else VerificationState(row["failures"], row["locked_until"])


async def save_verification(conn: Conn, msisdn: str, state: VerificationState, now: datetime) -> None:
    """Store the count and lock (a clean state deletes the row)."""
    if state.failures == 0 and state.locked_until is None:
        await conn.execute("DELETE FROM password_failures WHERE msisdn = $1", msisdn)
        return
    await conn.execute(
        """INSERT INTO password_failures (msisdn, failures, first_at, locked_until)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (msisdn) DO UPDATE
           SET failures = excluded.failures, locked_until = excluded.locked_until,
               first_at = CASE WHEN password_failures.failures = 0 OR excluded.failures = 1
                               THEN excluded.first_at ELSE password_failures.first_at END""",
        msisdn,
        state.failures,
        now,
        state.locked_until,
    )


async def password_matches(password_hash: str, password: str) -> bool:
    """argon2 verification, off the event loop (it is deliberately slow)."""

    def verify() -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(None, verify)


def hash_password(password: str) -> str:
    """The argon2 hash stored in subscribers.password_hash."""
    return _HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class _Verification:
    verified: bool
    note: tuple[str, str] | None
    extra: dict[str, Any]
    audit: dict[str, Any]


async def _verify(
    conn: Conn, policy: Policy, req: ReactivationRequest, password_hash: str | None, now: datetime
) -> _Verification:
    """R9: own number (asserted by the channel) or the service password with lockout."""
    if req.method == "own_number":
        return _Verification(True, None, {}, {"verification": "own_number", "asserted_by": req.channel})
    state = await verification_state(conn, req.msisdn)
    check = check_verification(policy, state, now)
    if not check.allowed:
        until = check.locked_until.isoformat() if check.locked_until else None
        return _Verification(
            False,
            (f"服务密码验证已锁定至{until}。", f"Password verification is locked until {until}."),
            {"remaining_attempts": 0, "locked_until": until},
            {"verification": "service_password", "result": "locked", "locked_until": until},
        )
    if password_hash is None:
        return _Verification(
            False,
            ("该号码未设置服务密码。", "No service password is set for this number."),
            {"remaining_attempts": check.remaining_attempts},
            {"verification": "service_password", "result": "no_password_set"},
        )
    if await password_matches(password_hash, req.password or ""):
        await save_verification(conn, req.msisdn, record_success(policy, state, now), now)
        return _Verification(True, None, {}, {"verification": "service_password", "result": "ok"})
    failed = record_failure(policy, state, now)
    await save_verification(conn, req.msisdn, failed, now)
    remaining = max(policy.verification.max_failures - failed.failures, 0)
    until = failed.locked_until.isoformat() if failed.locked_until else None
    note = (
        (f"服务密码错误，验证已锁定至{until}。", f"Wrong service password; locked until {until}.")
        if until
        else (f"服务密码错误，还可尝试{remaining}次。", f"Wrong service password; {remaining} attempts left.")
    )
    return _Verification(
        False,
        note,
        {"remaining_attempts": remaining, "locked_until": until},
        {"verification": "service_password", "result": "wrong", "failures": failed.failures},
    )


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
) -> dict[str, Any]:
    """Write one grant (inside a savepoint); returns the 201 body."""
    today = shanghai_today(now)
    expires_at = decision.expires_at(now)
    assert expires_at is not None and decision.mode is not None  # an eligible decision has both
    reactivation_id = await conn.fetchval(
        """INSERT INTO reactivations (msisdn, grant_month, seq, mode, scheme, level, channel, actor,
                                      granted_at, expires_at, credit_limit_fen)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id""",
        req.msisdn,
        Month.of(today).first_day,
        seq,
        decision.mode,
        tier.scheme,
        tier.level,
        req.channel,
        req.actor,
        now,
        expires_at,
        decision.credit_limit_fen,
    )
    await conn.execute(
        "UPDATE subscribers SET status = 'active', updated_at = $2 WHERE msisdn = $1", req.msisdn, now
    )
    body: dict[str, Any] = {
        "id": int(reactivation_id),
        "msisdn": req.msisdn,
        "mode": decision.mode,
        "granted_at": now.isoformat(),
        "expires_at": expires_at.isoformat(),
        "tier": {"scheme": tier.scheme, "level": tier.level},
        "rules": list(decision.rules),
    }
    if decision.mode == "prepaid_credit":
        assert decision.credit_limit_fen is not None  # R4 terms always carry an amount
        body["credit_limit_yuan"] = format_fen(decision.credit_limit_fen)
        body["days"] = decision.days
    else:
        body["hours"] = decision.hours
    if decision.creates_work_order:
        body["work_order_id"] = await workorders.create(
            conn,
            reactivation_id=int(reactivation_id),
            msisdn=req.msisdn,
            city_code=snap.city_code,
            due_at=overdue_at(policy, now),  # W4: the policy's window
            at=now,
            actor=req.actor,
            note=f"emergency reactivation #{int(reactivation_id)} (R10, W1)",
        )
    return body


async def reactivate(
    conn: Conn,
    policy: Policy,
    req: ReactivationRequest,
    now: datetime,
    before_commit: Callable[[], Awaitable[object]],
) -> Outcome:
    """Decide and record one reactivation request (module doc); replays a claimed key."""
    today = shanghai_today(now)
    async with conn.transaction():
        stored = await idempotency.claim(conn, SCOPE, req.key, req.body_hash)
        if stored is not None:
            if stored.body_hash != req.body_hash:
                raise ApiError(
                    409,
                    "invalid_request",
                    "this Idempotency-Key was used with a different request body; use a new key",
                )
            return Outcome(stored.status, stored.response, True, stored.response.get("code"), None)
        row = await conn.fetchrow(
            "SELECT password_hash FROM subscribers WHERE msisdn = $1 FOR UPDATE", req.msisdn
        )
        verification = _Verification(False, None, {}, {})
        tier: Tier | None = None
        account: AccountState | None = None
        snap: Snapshot | None = None
        if row is not None:
            verification = await _verify(conn, policy, req, row["password_hash"], now)
            snap = await snapshot.load_one(conn, req.msisdn, today)  # PostgreSQL, never the cache
        if snap is not None:
            tier = serving_tier(snap, policy, today)
            account = account_state(snap, today)
        decision = decide_reactivation(policy, tier, account, verification.verified)
        body: dict[str, Any]
        if decision.eligible and snap is not None and tier is not None and account is not None:
            seq = account.grants_this_month + 1
            try:
                async with conn.transaction():  # a savepoint: a lost race still records its refusal
                    body = await _grant(conn, policy, req, snap, tier, decision, seq, now)
            except asyncpg.UniqueViolationError:
                # Two grants racing for the same (msisdn, month, seq): R3 held by the constraint.
                decision = ReactivationDecision(False, "monthly_limit", None, None, None, None, ("R3", "R12"))
        code = decision.code
        if decision.eligible:
            status = 201
        else:
            assert code is not None  # a refusal always carries its code
            note = verification.note if code == "identity_not_verified" else None
            extra = verification.extra if code == "identity_not_verified" else {}
            body = refusal_body(code, decision.rules, note, **extra)
            status = body["status"]
        await audit.record(
            conn,
            at=now,
            actor=req.actor,
            role=req.role,
            channel=req.channel,
            action="reactivation",
            outcome="granted" if decision.eligible else "refused",
            msisdn=req.msisdn,
            code=code,
            detail={
                **verification.audit,
                "rules": list(decision.rules),
                "tier": {"scheme": tier.scheme, "level": tier.level} if tier else None,
                "mode": decision.mode,
                "reactivation_id": body.get("id") if decision.eligible else None,
                "work_order_id": body.get("work_order_id"),
                "idempotency_key": req.key[:200],
            },
        )
        body = await idempotency.complete(conn, SCOPE, req.key, status, body)
        if decision.eligible:
            await before_commit()
    return Outcome(status, body, False, code, decision.mode)
