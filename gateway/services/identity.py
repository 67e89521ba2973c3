"""Who is on the line (R9, H1–H3): the customer's identity for every action that needs it —
emergency reactivation, password change and reset, emergency stop and restart, points.

Two methods:
- `own_number` (H1) is a fact of the call, not a claim: the request names the `call_id`
  whose lookup the service answered, the caller resolves that call's number from the call
  memory (`LookupService.call_number`, Redis `ca:` keys, ≥ 2 h) into `Claim.call_number`,
  and the claim holds only when that number is the one acted on. No call id, an unknown
  or expired call, or another number's call: not verified.
- `service_password` (R9, H2, H3): argon2 or bcrypt (imported from the BSS; a bcrypt hash
  is re-hashed to argon2id after its first success), with the R9 lockout counted in
  `password_failures`. An initial password (never changed) is refused on self-service
  channels with `initial_password`.

Every service that acts on a customer's say-so calls `verify` inside its own transaction
(the subscriber row locked) BEFORE it looks at the account, and answers a failed
verification with the same refusal whatever the account's state: a wrong password must
not tell an active number from a suspended or stopped one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from entitlements.policy import Policy
from entitlements.servicing import hash_format, initial_password_refused
from entitlements.verification import check_verification, record_failure, record_success
from gateway.stores.queries import passwords, reactivations
from gateway.stores.queries.snapshot import Conn

_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Claim:
    """What a request says about who is calling.

    `call_id` is the request's; `call_number` is what the call memory holds for it (the
    caller resolves it with `LookupService.call_number`), never something the client sent.
    """

    msisdn: str
    channel: str
    method: str  # own_number | service_password
    password: str | None = None
    call_id: str | None = None
    call_number: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome: verified or not, the note and fields a refusal carries, the audit detail."""

    verified: bool
    note: tuple[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    #: The refusal code when not verified (`initial_password` for H3).
    code: str = "identity_not_verified"


NOT_VERIFIED = Verification(False)


def _matches(password_hash: str, password: str) -> bool:
    """argon2 or bcrypt (H2) verification; any other stored text never matches."""
    scheme = hash_format(password_hash)
    if scheme == "bcrypt":
        try:
            return bcrypt.checkpw(password.encode(), password_hash.encode())
        except ValueError:  # a malformed salt
            return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(password_hash: str, password: str) -> bool:
    """argon2 or bcrypt verification, off the event loop (both are deliberately slow)."""
    return await asyncio.get_running_loop().run_in_executor(None, _matches, password_hash, password)


def hash_password(password: str) -> str:
    """The argon2 hash stored in subscribers.password_hash."""
    return _HASHER.hash(password)


async def hash_password_async(password: str) -> str:
    """`hash_password` off the event loop (argon2 is deliberately slow)."""
    return await asyncio.get_running_loop().run_in_executor(None, _HASHER.hash, password)


async def verify(
    conn: Conn, policy: Policy, claim: Claim, password_hash: str | None, now: datetime
) -> Verification:
    """H1 own number (the call's number) or R9 the service password with lockout (H2, H3)."""
    if claim.method == "own_number":
        return own_number(claim)
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
        upgraded = hash_format(password_hash) == "bcrypt"
        if upgraded:  # H2: a BSS bcrypt hash becomes argon2id on its first success
            rehashed = await hash_password_async(claim.password or "")
            await passwords.upgrade_hash(conn, claim.msisdn, password_hash, rehashed)
        audit = {
            "verification": "service_password",
            "result": "ok",
            **({"upgraded": True} if upgraded else {}),
        }
        if initial_password_refused(claim.channel, await passwords.is_initial(conn, claim.msisdn)):
            # The refusal's own sentence says it all (no note: it would only repeat it).
            return Verification(False, None, {}, {**audit, "result": "initial_password"}, "initial_password")
        return Verification(True, None, {}, audit)
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


def own_number(claim: Claim) -> Verification:
    """H1: verified only when the claim names a call whose remembered number is `msisdn`."""
    if claim.call_id is None:
        outcome = "no_call_id"
    elif claim.call_number is None:
        outcome = "unknown_call"  # never answered, expired, or the call memory cannot say
    elif claim.call_number != claim.msisdn:
        outcome = "other_number"
    else:
        return Verification(True, None, {}, {"verification": "own_number", "call": "matched"})
    notes = {
        "no_call_id": ("本人号码验证需要来电的call_id。", "Own number needs the call's call_id (H1)."),
        "unknown_call": ("未找到该来电或已过期。", "The call is unknown or has expired (H1)."),
        "other_number": ("来电号码不是该号码。", "The call does not come from this number (H1)."),
    }
    return Verification(False, notes[outcome], {}, {"verification": "own_number", "call": outcome})
