"""The hotline's other services (H3–H5): service-password change and reset, emergency stop
and restart — each one PostgreSQL transaction that locks the subscriber, verifies identity
FIRST (H1 own number bound to the call, R9 password with lockout, H3 initial passwords),
then decides with `entitlements.servicing`, writes, audits, and lets the cache follow.

An unverified caller gets `identity_not_verified` whatever the account's state (active,
suspended, stopped or cancelled): the password is no oracle for the state. Wrong
passwords are counted (R9) in the same transaction as the refusal's audit row, so the
transaction commits and the refusal is raised afterwards.

Plain passwords live only in the request and, for a reset, in the SMS outbox row that
carries the new one to the customer; never in a log line, an audit row or an answer.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.servicing import restart_refusal, stop_refusal, weak_password
from entitlements.verification import VerificationState
from gateway.logs import number_ref
from gateway.metrics import Metrics
from gateway.services import identity
from gateway.services.consistency import cache_follows
from gateway.services.errors import Conflict, ServiceError, invalid_request, unknown_subscriber
from gateway.stores.queries import audit, idempotency, passwords, reactivations, servicing, subscribers

#: The human sentence of each refusal of these services, Chinese then English.
REFUSALS: dict[str, tuple[str, str]] = {
    "identity_not_verified": ("身份未通过验证。", "The customer's identity is not verified (R9, H1)."),
    "initial_password": (
        "初始密码不能用于自助服务，请先修改服务密码。",
        "An initial password cannot be used on a self-service channel (H3).",
    ),
    "cancelled": ("该号码已销户。", "The number is cancelled (T1.10)."),
    "already_stopped": ("该号码已紧急停机。", "The number is already stopped (H5)."),
    "not_stopped": ("该号码未紧急停机，无需复机。", "The number is not stopped (H5)."),
    "not_stoppable": ("该号码当前状态不能紧急停机。", "The number cannot be stopped in its status (H5)."),
}
RESET_KIND = "password_reset"


def refusal(code: str, note: tuple[str, str] | None = None, **extra: Any) -> ServiceError:
    """A refusal with its sentence in zh and en (plus a note, e.g. the attempts left)."""
    zh, en = REFUSALS[code]
    if note is not None:
        zh, en = f"{zh}{note[0]}", f"{en} {note[1]}"
    return ServiceError(code, f"{zh} {en}", detail_zh=zh, detail_en=en, **extra)


def _unverified(verification: identity.Verification) -> ServiceError:
    return refusal(verification.code, verification.note, **verification.extra)


# --- H4: password change and reset ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordRequest:
    """A parsed POST /v1/subscribers/{msisdn}/password (plain passwords: never logged)."""

    msisdn: str
    channel: str
    call_id: str | None
    call_number: str | None
    old_password: str | None
    new_password: str | None
    actor: str
    role: str


def reset_text(policy: Policy, password: str) -> str:
    """H4: the SMS that carries a reset password to the customer."""
    return (
        f"{policy.sms.brand}您的服务密码已重置为{password}，请尽快拨打{policy.sms.hotline}修改。"
        "如非本人操作，请立即致电客服。"
    )


def new_random_password(msisdn: str) -> str:
    """H4: a random six-digit password that passes the strength rules."""
    while True:
        candidate = f"{secrets.randbelow(1_000_000):06d}"
        if weak_password(candidate, msisdn) is None:
            return candidate


async def change_password(
    pool: asyncpg.Pool, metrics: Metrics, policy: Policy, req: PasswordRequest, now: datetime
) -> datetime:
    """H4: change (old + new, the old one checked with the R9 lockout) or reset (neither, on
    an own-number call, H1: a random password sent by SMS through the outbox). Returns when."""
    if (req.old_password is None) != (req.new_password is None):
        raise invalid_request("send old_password and new_password to change, or neither to reset")
    reset = req.new_password is None
    if req.new_password is not None:
        reason = weak_password(req.new_password, req.msisdn)
        if reason is not None:  # input, not identity: no attempt is used up (400, H4)
            raise ServiceError("weak_password", f"{reason} (H4)", field="new_password")
    failure: ServiceError | None = None
    async with pool.acquire() as conn, conn.transaction():
        stored = await passwords.load(conn, req.msisdn)
        if stored is None:
            raise unknown_subscriber()
        if reset:
            claim = identity.Claim(req.msisdn, req.channel, "own_number", None, req.call_id, req.call_number)
        else:
            claim = identity.Claim(
                req.msisdn, req.channel, "service_password", req.old_password, req.call_id, req.call_number
            )
        verification = await identity.verify(conn, policy, claim, stored.password_hash, now)
        # Changing an initial password is what H3 asks for: the initial refusal does not apply.
        verified = verification.verified or verification.code == "initial_password"
        if not verified:
            failure = _unverified(verification)
        elif stored.status == "cancelled":
            failure = refusal("cancelled")
        else:
            password = new_random_password(req.msisdn) if reset else req.new_password
            assert password is not None
            await passwords.set_password(conn, req.msisdn, await identity.hash_password_async(password), now)
            await reactivations.save_verification(
                conn, req.msisdn, VerificationState(), now
            )  # lockout cleared
            if reset:
                month = Month.of(shanghai_today(now)).first_day
                await servicing.queue_sms(conn, req.msisdn, RESET_KIND, month, reset_text(policy, password))
        await audit.record(
            conn,
            at=now,
            actor=req.actor,
            role=req.role,
            channel=req.channel,
            action="password_reset" if reset else "password_change",
            outcome="refused" if failure else "changed",
            msisdn=req.msisdn,
            code=failure.code if failure else None,
            detail={**verification.audit, "rules": ["H4", "R9"] + (["H1"] if reset else [])},
        )
    outcome = failure.code if failure else "changed"
    metrics.servicing.labels("password_reset" if reset else "password_change", outcome).inc()
    if failure is not None:
        raise failure
    return now


# --- H5: emergency stop and restart ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StopRequest:
    """A parsed POST …/emergency-stop or …/emergency-restart."""

    action: str  # emergency_stop | emergency_restart
    msisdn: str
    channel: str
    method: str
    password: str | None
    call_id: str | None
    call_number: str | None
    key: str
    actor: str
    role: str

    @property
    def body_hash(self) -> str:
        """What a replay of the Idempotency-Key must match (the password as a keyed hash)."""
        canonical = {
            "action": self.action,
            "msisdn": self.msisdn,
            "channel": self.channel,
            "method": self.method,
            "password": number_ref("service-password:" + self.password) if self.password else None,
            "call_id": self.call_id,
        }
        return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A stop or restart done."""

    msisdn: str
    status: str
    previous_status: str
    changed_at: datetime


#: The client's answer to a change or a refusal: (status, body), stored for replays.
Render = Callable[[StatusChanged | ServiceError], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer as stored for the key, and whether it is a replay."""

    status: int
    body: dict[str, Any]
    replayed: bool


async def emergency(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    req: StopRequest,
    now: datetime,
    render: Render,
) -> Answer:
    """H5: emergency stop (own number or password) or restart (password only), once per key."""
    today = shanghai_today(now)
    scope = f"{req.action}:{req.actor}"
    async with (
        pool.acquire() as conn,
        cache_follows(conn, redis, metrics, policy, [req.msisdn], today) as uow,
    ):
        stored_answer = await idempotency.claim(conn, scope, req.key, req.body_hash)
        if stored_answer is not None:
            uow.unchanged()
            if stored_answer.body_hash != req.body_hash:
                raise Conflict("this Idempotency-Key was used with a different request body; use a new key")
            return Answer(stored_answer.status, stored_answer.response, True)
        stored = await passwords.load(conn, req.msisdn)
        result: StatusChanged | ServiceError
        detail: dict[str, Any] = {"rules": ["H5"], "idempotency_key": req.key[:200]}
        if stored is None:
            result = unknown_subscriber()
        else:
            claim = identity.Claim(
                req.msisdn, req.channel, req.method, req.password, req.call_id, req.call_number
            )
            if req.action == "emergency_restart" and req.method != "service_password":
                # H5: the phone may be in someone else's hands — its own number proves nothing.
                verification = identity.Verification(
                    False,
                    ("复机需要服务密码。", "A restart needs the service password (H5)."),
                    {},
                    {"verification": req.method, "result": "password_required"},
                )
            else:
                verification = await identity.verify(conn, policy, claim, stored.password_hash, now)
            detail.update(verification.audit)
            if not verification.verified:
                result = _unverified(verification)
            elif req.action == "emergency_stop":
                code = stop_refusal(stored.status)
                if code is None:
                    await subscribers.stop(conn, req.msisdn, now)
                    result = StatusChanged(req.msisdn, "stopped", stored.status, now)
                else:
                    result = refusal(code)
            else:
                code = restart_refusal(stored.status)
                back = await subscribers.restart(conn, req.msisdn, now) if code is None else None
                if back is None:
                    result = refusal(code or "not_stopped")
                else:
                    result = StatusChanged(req.msisdn, back, "stopped", now)
        if isinstance(result, ServiceError):
            uow.unchanged()
        await audit.record(
            conn,
            at=now,
            actor=req.actor,
            role=req.role,
            channel=req.channel,
            action=req.action,
            outcome="refused" if isinstance(result, ServiceError) else "changed",
            msisdn=req.msisdn,
            code=result.code if isinstance(result, ServiceError) else None,
            detail={
                **detail,
                **(
                    {"from": result.previous_status, "to": result.status}
                    if isinstance(result, StatusChanged)
                    else {}
                ),
            },
        )
        status, body = render(result)
        body = await idempotency.complete(conn, scope, req.key, status, body)
    outcome = result.code if isinstance(result, ServiceError) else "changed"
    metrics.servicing.labels(req.action, outcome).inc()
    return Answer(status, body, False)
