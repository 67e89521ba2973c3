"""Emergency reactivations (R1–R12) as stored: the grants and the wrong-password counts
behind identity verification (R9). The decision and its orchestration are
`gateway.services.reactivations`."""

from __future__ import annotations

from datetime import date, datetime

from entitlements.verification import VerificationState
from gateway.stores.queries.snapshot import Conn


async def password_hash(conn: Conn, msisdn: str) -> tuple[bool, str | None]:
    """Lock the subscriber row; (known, its service-password hash)."""
    row = await conn.fetchrow("SELECT password_hash FROM subscribers WHERE msisdn = $1 FOR UPDATE", msisdn)
    return (False, None) if row is None else (True, row["password_hash"])


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


async def insert(
    conn: Conn,
    *,
    msisdn: str,
    grant_month: date,
    seq: int,
    mode: str,
    scheme: str,
    level: str,
    channel: str,
    actor: str,
    granted_at: datetime,
    expires_at: datetime,
    credit_limit_fen: int | None,
) -> int:
    """One grant; the unique (msisdn, grant_month, seq) refuses a second grant of the same
    month (R3/R12) with `UniqueViolationError`. Returns its id."""
    reactivation_id = await conn.fetchval(
        """INSERT INTO reactivations (msisdn, grant_month, seq, mode, scheme, level, channel, actor,
                                      granted_at, expires_at, credit_limit_fen)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id""",
        msisdn,
        grant_month,
        seq,
        mode,
        scheme,
        level,
        channel,
        actor,
        granted_at,
        expires_at,
        credit_limit_fen,
    )
    return int(reactivation_id)
