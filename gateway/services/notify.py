"""`callgate notify`: deliver the SMS outbox (T1.9) to an HTTP SMS gateway.

Each message is POSTed as JSON `{"id", "to", "text"}`; a 2xx marks it sent, anything
else is retried with backoff and, after MAX_ATTEMPTS tries in all, marked failed.

One short transaction per message: its row is claimed with FOR UPDATE SKIP LOCKED,
sent, and its outcome committed before the next one is claimed. So several senders can
run at once (each skips the message another is sending, and a sent message is no
longer pending), only the message in flight is locked, and a run that dies midway has
recorded everything it sent. A run walks the outbox once, by id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import asyncpg

from gateway.logs import get_logger, mask
from gateway.stores.queries import notifications
from gateway.stores.queries.notifications import Outgoing

MAX_ATTEMPTS = 5
#: Failed messages in a row after which a run stops: the gateway is down, the rest is left
#: for the next run (each failed message already cost its quick retries).
GIVE_UP_AFTER = 10
log = get_logger("notify")


@dataclass(slots=True)
class NotifySummary:
    """What a delivery run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    pending: int = 0


async def pending_count(conn: asyncpg.Connection) -> int:
    """Messages waiting in the outbox."""
    return await notifications.pending_count(conn)


async def _send(session: aiohttp.ClientSession, url: str, message: Outgoing) -> str | None:
    """POST one message; None on success, else the error text."""
    try:
        async with session.post(
            url, json={"id": message.id, "to": message.msisdn, "text": message.body}
        ) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def _send_with_retries(
    session: aiohttp.ClientSession, url: str, message: Outgoing, backoff: float
) -> str | None:
    """The message and its quick retries inside this run; None once one went through."""
    error = await _send(session, url, message)
    for attempt in range(1, 3):
        if error is None:
            break
        await asyncio.sleep(backoff * attempt)
        error = await _send(session, url, message)
    return error


async def deliver(
    conn: asyncpg.Connection,
    url: str,
    *,
    limit: int | None = None,
    backoff: float = 0.5,
    timeout: float = 5.0,
) -> NotifySummary:
    """Send pending messages until none are left (or `limit` were tried)."""
    summary = NotifySummary()
    tried = 0
    after = 0  # the last id this run tried: each message is tried once per run
    failed_in_a_row = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while (limit is None or tried < limit) and failed_in_a_row < GIVE_UP_AFTER:
            async with conn.transaction():
                message = await notifications.claim_next(conn, after)
                if message is None:
                    break
                after = message.id
                error = await _send_with_retries(session, url, message, backoff)
                attempts = message.attempts + 1
                if error is None:
                    await notifications.mark_sent(conn, message.id, attempts)
                else:
                    final = attempts >= MAX_ATTEMPTS
                    await notifications.mark_failed_try(conn, message.id, attempts, error, final)
            tried += 1
            if error is None:
                summary.sent += 1
                failed_in_a_row = 0
            else:
                summary.failed += final
                summary.retried += not final
                failed_in_a_row += 1
                log.warning("sms_failed", to=mask(message.msisdn), error=error, attempts=attempts)
    summary.pending = await pending_count(conn)
    return summary
