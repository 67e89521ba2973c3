"""Loyalty points (P1–P5): the import of grants and the redemption, each one unit of work
that the subscribers' cache records follow (`cache_follows`, P3).

`redeem` claims the Idempotency-Key (scoped by the caller's token), locks the subscriber
row, verifies identity (R9/H1, as reactivations do), locks the points account and reads
the ledger from PostgreSQL (never the cache), asks the engine (`decide_redemption`,
`allocate`: P1 order) and writes the redemption, the grants it took from, the audit row
and the stored answer before one commit. Spends of one subscriber queue on the row locks,
and every grant's `remaining` has a CHECK ≥ 0: the balance never goes below zero however
many redemptions race.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from entitlements.months import shanghai_today
from entitlements.points import Holding, PointsSummary, allocate, balance, decide_redemption, summary
from entitlements.policy import Policy
from gateway.batch import importer
from gateway.logs import number_ref
from gateway.metrics import Metrics
from gateway.services import identity
from gateway.services.consistency import cache_follows
from gateway.services.errors import Conflict, ServiceError
from gateway.stores.queries import audit, idempotency, reactivations, subscribers
from gateway.stores.queries import points as ledger_rows
from gateway.stores.queries.snapshot import Conn

SCOPE = "redemptions"


# --- P1/P2: the import ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointsImport:
    """What `callgate import points` did."""

    result: importer.ImportResult
    reached: int  # accounts that reached the redemption threshold with this file (P2)


async def import_points(
    conn: asyncpg.Connection,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    path: Path,
    today: date,
    *,
    show_progress: bool = True,
) -> PointsImport:
    """Load a points file (all rows or none, P1), record the threshold day of the accounts
    it brings to 2,000 (P2), and make the cache records of its subscribers follow (P3)."""
    affected: list[str] = []  # filled inside the block: cache_follows reads it at its commit
    reached = 0
    async with cache_follows(conn, redis, metrics, policy, affected, today):
        result = await importer.import_file(conn, "points", path, today, show_progress=show_progress)
        affected.extend(result.affected_msisdns)
        reached = await ledger_rows.mark_thresholds(conn, policy.points.threshold, today, affected)
    return PointsImport(result, reached)


async def summary_of(conn: Conn, policy: Policy, msisdn: str, today: date) -> PointsSummary | None:
    """P1–P3 from PostgreSQL: the subscriber's points today (None: no points ledger)."""
    found = await ledger_rows.ledger(conn, msisdn)
    if found is None:
        return None
    return summary(
        Holding.of(found.grants, found.threshold_reached_on, today), policy.points.threshold, today
    )


# --- P5: redemption ---------------------------------------------------------------------------

#: The sentence of every refusal of a redemption, Chinese then English.
REFUSALS: dict[str, tuple[str, str]] = {
    "unknown_subscriber": ("该号码不是本网用户。", "The number is not one of our subscribers."),
    "cancelled": ("该号码已销户，积分不能兑换。", "The number is cancelled; its points cannot be redeemed."),
    "identity_not_verified": (
        "身份未通过验证，不能兑换积分。",
        "The customer's identity is not verified (R9), so nothing was redeemed.",
    ),
    "unknown_item": ("积分商城中没有该商品。", "The item is not in the catalogue (P5)."),
    "below_threshold": (
        "积分首次累计达到{threshold}分后方可兑换，目前还不能兑换。",
        "Nothing is redeemable until the balance first reaches {threshold} points (P2).",
    ),
    "insufficient_points": (
        "积分余额不足，不能兑换该商品。",
        "The balance does not cover this item (P5).",
    ),
}


@dataclass(frozen=True, slots=True)
class RedemptionRequest:
    """A parsed POST /v1/subscribers/{msisdn}/points/redemptions."""

    msisdn: str
    item: str
    channel: str
    method: str
    password: str | None
    call_id: str | None
    call_number: str | None  # H1: the number the call memory holds for call_id
    key: str
    body_hash: str
    actor: str
    role: str


@dataclass(frozen=True, slots=True)
class Redemption:
    """A redemption written: its item and price, and the balance left."""

    id: int
    msisdn: str
    item: str
    points: int
    balance: int
    redeemable: int
    redeemed_at: datetime
    taken: tuple[tuple[int, int], ...]  # (grant id, points) in P1 order
    rules: tuple[str, ...]


#: The client's answer to a redemption or a refusal: (status, body), stored for replays.
Render = Callable[[Redemption | ServiceError], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer (as `render` gave it and the key stores it), and whether it is a replay."""

    status: int
    body: dict[str, Any]
    replayed: bool
    redeemed: bool
    code: str | None


def request_hash(
    msisdn: str, item: str, channel: str, method: str, password: str | None, call_id: str | None
) -> str:
    """What a replay of an Idempotency-Key must match (the password only as a keyed hash)."""
    canonical = {
        "msisdn": msisdn,
        "item": item,
        "channel": channel,
        "method": method,
        "call_id": call_id,
        "password": number_ref("service-password:" + password) if password is not None else None,
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def refusal(
    policy: Policy, code: str, rules: tuple[str, ...], note: tuple[str, str] | None = None, **extra: Any
) -> ServiceError:
    """A refusal with its sentence in zh and en."""
    zh, en = (text.format(threshold=policy.points.threshold) for text in REFUSALS[code])
    if note is not None:
        zh, en = f"{zh}{note[0]}", f"{en} {note[1]}"
    return ServiceError(code, f"{zh} {en}", detail_zh=zh, detail_en=en, rules=list(rules), **extra)


def _claim(req: RedemptionRequest) -> identity.Claim:
    """Who the request says is calling; an own-number claim is checked against the call's
    number (H1)."""
    return identity.Claim(req.msisdn, req.channel, req.method, req.password, req.call_id, req.call_number)


async def redeem(
    pool: asyncpg.Pool,
    redis: Redis,
    metrics: Metrics,
    policy: Policy,
    req: RedemptionRequest,
    now: datetime,
    render: Render,
) -> Outcome:
    """Decide and record one redemption (module doc); a claimed key replays its answer.

    The same key with a different request raises `Conflict`.
    """
    today = shanghai_today(now)
    async with (
        pool.acquire() as conn,
        cache_follows(conn, redis, metrics, policy, [req.msisdn], today) as uow,
    ):
        scope = f"{SCOPE}:{req.actor}"  # keys are the caller's own: another token never replays them
        stored = await idempotency.claim(conn, scope, req.key, req.body_hash)
        if stored is not None:
            uow.unchanged()
            if stored.body_hash != req.body_hash:
                raise Conflict("this Idempotency-Key was used with a different request body; use a new key")
            return Outcome(stored.status, stored.response, True, False, stored.response.get("code"))
        result, detail = await _decide_and_write(conn, policy, req, now, today)
        if isinstance(result, ServiceError):
            uow.unchanged()  # a refusal changes nothing the cache holds
        await audit.record(
            conn,
            at=now,
            actor=req.actor,
            role=req.role,
            channel=req.channel,
            action="points_redemption",
            outcome="redeemed" if isinstance(result, Redemption) else "refused",
            msisdn=req.msisdn,
            code=result.code if isinstance(result, ServiceError) else None,
            detail={**detail, "item": req.item[:64], "idempotency_key": req.key[:200]},
        )
        status, answer = render(result)
        body = await idempotency.complete(conn, scope, req.key, status, answer)
    code = result.code if isinstance(result, ServiceError) else None
    return Outcome(status, body, False, isinstance(result, Redemption), code)


async def _decide_and_write(
    conn: Conn, policy: Policy, req: RedemptionRequest, now: datetime, today: date
) -> tuple[Redemption | ServiceError, dict[str, Any]]:
    """Inside the transaction: the refusal, or the redemption written; and the audit detail."""
    status = await subscribers.lock(conn, req.msisdn)  # the first lock of every write path
    if status is None:
        return refusal(policy, "unknown_subscriber", ()), {}
    if status == "cancelled":
        return refusal(policy, "cancelled", ("T1.10",)), {}
    _, password_hash = await reactivations.password_hash(conn, req.msisdn)
    verification = await identity.verify(conn, policy, _claim(req), password_hash, now)
    if not verification.verified:
        return (
            refusal(policy, "identity_not_verified", ("R9",), verification.note, **verification.extra),
            dict(verification.audit),
        )
    found = await ledger_rows.ledger(conn, req.msisdn, lock=True)
    grants = found.grants if found is not None else ()
    reached_on = found.threshold_reached_on if found is not None else None
    have = balance(grants, today)
    decision = decide_redemption(policy, req.item, have, reached_on, today)
    detail: dict[str, Any] = {**verification.audit, "balance": have, "rules": list(decision.rules)}
    if not decision.allowed or decision.points is None:
        assert decision.code is not None  # a refusal always carries its code
        extra: dict[str, Any] = {"balance": have}
        if decision.points is not None:
            extra["points"] = decision.points
        if decision.code == "below_threshold":
            extra["threshold"] = policy.points.threshold
        return refusal(policy, decision.code, decision.rules, **extra), detail
    taken = allocate(grants, decision.points, today)  # P1: what expires first, then the oldest
    redemption_id = await ledger_rows.redeem(
        conn, msisdn=req.msisdn, item=req.item, points=decision.points, taken=taken,
        channel=req.channel, actor=req.actor, at=now,
    )  # fmt: skip
    left = have - decision.points
    detail.update(
        redemption_id=redemption_id, points=decision.points, taken=[list(t) for t in taken], left=left
    )
    return (
        Redemption(
            redemption_id, req.msisdn, req.item, decision.points, left, left, now, taken, decision.rules
        ),
        detail,
    )
