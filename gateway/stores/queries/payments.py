"""Payments as stored: one row per (number, time, amount), so the same payment sent
twice is recorded once. What a payment does is `gateway.services.payments`."""

from __future__ import annotations

from datetime import datetime

from gateway.stores.queries.snapshot import Conn


async def insert(conn: Conn, msisdn: str, paid_at: datetime, amount_fen: int) -> int | None:
    """Record a payment from the API; its id, or None when the same payment is already recorded."""
    payment_id = await conn.fetchval(
        """INSERT INTO payments (msisdn, paid_at, amount_fen, source) VALUES ($1, $2, $3, 'api')
           ON CONFLICT (msisdn, paid_at, amount_fen) DO NOTHING RETURNING id""",
        msisdn,
        paid_at,
        amount_fen,
    )
    return None if payment_id is None else int(payment_id)


async def find(conn: Conn, msisdn: str, paid_at: datetime, amount_fen: int) -> int:
    """The id of a recorded payment (number, time, amount)."""
    payment_id = await conn.fetchval(
        "SELECT id FROM payments WHERE msisdn = $1 AND paid_at = $2 AND amount_fen = $3",
        msisdn,
        paid_at,
        amount_fen,
    )
    return int(payment_id)
