"""R9: identity verification lockout after repeated wrong service passwords."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from entitlements.policy import Policy


@dataclass(frozen=True, slots=True)
class VerificationState:
    """Wrong passwords so far and, once locked, until when (stored per number)."""

    failures: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class VerificationCheck:
    """Whether a verification attempt may be made now."""

    allowed: bool
    remaining_attempts: int
    locked_until: datetime | None
    code: str | None
    rules: tuple[str, ...] = ("R9",)


def _fresh(state: VerificationState, now: datetime) -> VerificationState:
    """A lock that has run out starts over with a clean count."""
    if state.locked_until is not None and now >= state.locked_until:
        return VerificationState()
    return state


def check_verification(policy: Policy, state: VerificationState, now: datetime) -> VerificationCheck:
    """R9: may the agent try a password now? (refused while locked)."""
    rules = policy.verification
    state = _fresh(state, now)
    if state.locked_until is not None:
        return VerificationCheck(False, 0, state.locked_until, "identity_not_verified")
    remaining = max(rules.max_failures - state.failures, 0)
    return VerificationCheck(True, remaining, None, None)


def record_failure(policy: Policy, state: VerificationState, now: datetime) -> VerificationState:
    """R9: count a wrong password; the last allowed one locks for ``lock_minutes``."""
    rules = policy.verification
    state = _fresh(state, now)
    if state.locked_until is not None:
        return state  # attempts while locked are refused, not counted
    failures = state.failures + 1
    if failures >= rules.max_failures:
        return VerificationState(failures, now + timedelta(minutes=rules.lock_minutes))
    return VerificationState(failures, None)


def record_success(policy: Policy, state: VerificationState, now: datetime) -> VerificationState:
    """R9: a right password clears the count (a locked state stays locked)."""
    state = _fresh(state, now)
    if state.locked_until is not None:
        return state
    return VerificationState()
