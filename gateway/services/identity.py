"""Who is on the line (R9): the customer's identity for every action that needs it —
emergency reactivation today, and the other hotline services that rest on the same rules.

Two methods: `own_number` (the call comes from the number acted on) and `service_password`
(argon2-verified, with the R9 lockout counted in `password_failures`). Every service that
acts on a customer's say-so calls `verify` inside its own transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from entitlements.policy import Policy
from entitlements.verification import check_verification, record_failure, record_success
from gateway.stores.queries import reactivations
from gateway.stores.queries.snapshot import Conn

_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Claim:
    """What a request says about who is calling."""

    msisdn: str
    channel: str
    method: str  # own_number | service_password
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome: verified or not, the note and fields a refusal carries, the audit detail."""

    verified: bool
    note: tuple[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)


NOT_VERIFIED = Verification(False)


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


async def verify(
    conn: Conn, policy: Policy, claim: Claim, password_hash: str | None, now: datetime
) -> Verification:
    """R9: own number (asserted by the channel) or the service password with lockout."""
    if claim.method == "own_number":
        return Verification(True, None, {}, {"verification": "own_number", "asserted_by": claim.channel})
    state = await reactivations.verification_state(conn, claim.msisdn)
    check = check_verification(policy, state, now)
    if not check.allowed:
        until = check.locked_until.isoformat() if check.locked_until else None
        return Verification(
            False,
            (f"服务密码验证已锁定至{until}。", f"Password verification is locked until {until}."),
            {"remaining_attempts": 0, "locked_until": until},
            {"verification": "service_password", "result": "locked", "locked_until": until},
        )
    if password_hash is None:
        return Verification(
            False,
            ("该号码未设置服务密码。", "No service password is set for this number."),
            {"remaining_attempts": check.remaining_attempts},
            {"verification": "service_password", "result": "no_password_set"},
        )
    if await password_matches(password_hash, claim.password or ""):
        await reactivations.save_verification(conn, claim.msisdn, record_success(policy, state, now), now)
        return Verification(True, None, {}, {"verification": "service_password", "result": "ok"})
    failed = record_failure(policy, state, now)
    await reactivations.save_verification(conn, claim.msisdn, failed, now)
    remaining = max(policy.verification.max_failures - failed.failures, 0)
    until = failed.locked_until.isoformat() if failed.locked_until else None
    note = (
        (f"服务密码错误，验证已锁定至{until}。", f"Wrong service password; locked until {until}.")
        if until
        else (f"服务密码错误，还可尝试{remaining}次。", f"Wrong service password; {remaining} attempts left.")
    )
    return Verification(
        False,
        note,
        {"remaining_attempts": remaining, "locked_until": until},
        {"verification": "service_password", "result": "wrong", "failures": failed.failures},
    )
