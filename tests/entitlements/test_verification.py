"""R9 — identity verification and the lockout after wrong passwords."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from entitlements.verification import (
    VerificationState,
    check_verification,
    record_failure,
    record_success,
)
from tests.entitlements.helpers import P2015

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def fail(times: int, start: VerificationState | None = None) -> VerificationState:
    """``times`` wrong passwords a minute apart."""
    state = start or VerificationState()
    for i in range(times):
        state = record_failure(P2015, state, T0 + timedelta(minutes=i))
    return state


def test_four_wrong_passwords_leave_one_try() -> None:
    # rule R9 [assumption: 5 tries]
    check = check_verification(P2015, fail(4), T0 + timedelta(minutes=4))
    assert (check.allowed, check.remaining_attempts, check.locked_until) == (True, 1, None)


def test_the_fifth_wrong_password_locks_for_30_minutes() -> None:
    # rule R9 [assumption: 30 minutes]
    state = fail(5)
    assert state.locked_until == T0 + timedelta(minutes=4 + 30)
    check = check_verification(P2015, state, T0 + timedelta(minutes=20))
    assert (check.allowed, check.remaining_attempts, check.code) == (
        False,
        0,
        "identity_not_verified",
    )


def test_attempts_while_locked_are_not_counted() -> None:
    # rule R9
    state = fail(5)
    assert record_failure(P2015, state, T0 + timedelta(minutes=10)) == state
    assert record_success(P2015, state, T0 + timedelta(minutes=10)) == state


def test_the_lock_runs_out() -> None:
    # rule R9
    state = fail(5)
    check = check_verification(P2015, state, T0 + timedelta(minutes=34))
    assert (check.allowed, check.remaining_attempts) == (True, 5)


def test_a_right_password_clears_the_count() -> None:
    # rule R9
    state = record_success(P2015, fail(3), T0 + timedelta(minutes=3))
    assert state == VerificationState()
    assert check_verification(P2015, state, T0).remaining_attempts == 5
