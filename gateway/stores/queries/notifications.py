"""The SMS outbox (T1.9): pending messages claimed one at a time, their outcome recorded."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send."""

    id: int
    msisdn: str
    body: str
    attempts: int


async def pending_count(conn: Conn) -> int:
    """Messages waiting in the outbox."""
    return int(await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'"))


async def claim_next(conn: Conn, after_id: int) -> Outgoing | None:
    """Inside a transaction: lock the first pending message after `after_id` that no other
    sender holds (SKIP LOCKED), or None when there is none."""
    row = await conn.fetchrow(
        """SELECT id, msisdn, body, attempts FROM notifications
           WHERE status = 'pending' AND id > $1
           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED""",
        after_id,
    )
    return None if row is None else Outgoing(row["id"], row["msisdn"], row["body"], row["attempts"])


async def mark_sent(conn: Conn, message_id: int, attempts: int) -> None:
    """The gateway took the message."""
    await conn.execute(
        "UPDATE notifications SET status = 'sent', sent_at = now(), attempts = $2 WHERE id = $1",
        message_id,
        attempts,
    )


async def mark_failed_try(conn: Conn, message_id: int, attempts: int, error: str, final: bool) -> None:
    """The gateway refused or failed: pending for a later run, or failed for good when `final`."""
    await conn.execute(
        """UPDATE notifications SET attempts = $2, last_error = $3,
               status = CASE WHEN $4 THEN 'failed' ELSE 'pending' END
           WHERE id = $1""",
        message_id,
        attempts,
        error,
        final,
    )
