"""The hotline services' writes that are neither passwords nor statuses: the reset SMS
queued in the outbox (H4)."""

from __future__ import annotations

from datetime import date

from gateway.stores.queries.snapshot import Conn


async def queue_sms(conn: Conn, msisdn: str, kind: str, month: date, body: str) -> int:
    """Queue one SMS in the outbox (`callgate notify` delivers it); its id."""
    message_id = await conn.fetchval(
        "INSERT INTO notifications (msisdn, kind, month, body) VALUES ($1, $2, $3, $4) RETURNING id",
        msisdn,
        kind,
        month,
        body,
    )
    return int(message_id)
