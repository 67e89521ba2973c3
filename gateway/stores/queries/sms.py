"""Inbound SMS to the points short code (P4): the message ids claimed, the replies queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message id seen before: what it carried and how it was answered."""

    body_hash: str
    reply: str


async def claim(
    conn: Conn,
    message_id: str,
    body_hash: str,
    sender_mask: str,
    sender_hash: str,
    reply: str,
    at: datetime,
) -> Claimed | None:
    """Inside a transaction: claim the message id (None: this request answers it) or what the
    first request with it stored. A concurrent twin blocks on the row until the first commits."""
    claimed = await conn.fetchval(
        """INSERT INTO sms_inbound (id, body_hash, msisdn_mask, msisdn_hash, reply, received_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING true""",
        message_id,
        body_hash,
        sender_mask,
        sender_hash,
        reply,
        at,
    )
    if claimed:
        return None
    row = await conn.fetchrow("SELECT body_hash, reply FROM sms_inbound WHERE id = $1", message_id)
    assert row is not None  # the conflicting row was committed before DO NOTHING returned
    return Claimed(row["body_hash"], row["reply"])


async def queue_reply(conn: Conn, msisdn: str, kind: str, month: date, body: str) -> int:
    """Put a reply in the SMS outbox (delivered by `callgate notify`); its id."""
    notification_id = await conn.fetchval(
        "INSERT INTO notifications (msisdn, kind, month, body) VALUES ($1, $2, $3, $4) RETURNING id",
        msisdn,
        kind,
        month,
        body,
    )
    return int(notification_id)


async def link(conn: Conn, message_id: str, notification_id: int) -> None:
    """Record which outbox message answered the inbound one."""
    await conn.execute(
        "UPDATE sms_inbound SET notification_id = $2 WHERE id = $1", message_id, notification_id
    )
