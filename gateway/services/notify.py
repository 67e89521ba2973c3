"""`callgate notify`: deliver the SMS outbox (T1.9) to an HTTP SMS gateway.

Rows are claimed with FOR UPDATE SKIP LOCKED, so several senders can run at once;
each message is POSTed as JSON `{"id", "to", "text"}`; a 2xx marks it sent, anything
else is retried with backoff and, after MAX_ATTEMPTS tries in all, marked failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import asyncpg

from gateway.logs import get_logger, mask

MAX_ATTEMPTS = 5
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
    return int(await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'"))


async def _send(session: aiohttp.ClientSession, url: str, row: asyncpg.Record) -> str | None:
    """POST one message; None on success, else the error text."""
    try:
        async with session.post(
            url, json={"id": row["id"], "to": row["msisdn"], "text": row["body"]}
        ) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def deliver(
    conn: asyncpg.Connection,
    url: str,
    *,
    batch: int = 200,
    limit: int | None = None,
    backoff: float = 0.5,
    timeout: float = 5.0,
) -> NotifySummary:
    """Send pending messages until none are left (or `limit` were tried)."""
    summary = NotifySummary()
    tried = 0
    seen: list[int] = []  # a message is tried once per run (with its quick retries)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while limit is None or tried < limit:
            async with conn.transaction():
                rows = await conn.fetch(
                    """SELECT id, msisdn, body, attempts FROM notifications
                       WHERE status = 'pending' AND id <> ALL($2::bigint[])
                       ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                    batch if limit is None else min(batch, limit - tried),
                    seen,
                )
                if not rows:
                    break
                for row in rows:
                    error = await _send(session, url, row)
                    for attempt in range(1, 3):  # quick retries inside this run
                        if error is None:
                            break
                        await asyncio.sleep(backoff * attempt)
                        error = await _send(session, url, row)
                    attempts = row["attempts"] + 1
                    if error is None:
                        summary.sent += 1
                        await conn.execute(
                            """UPDATE notifications SET status = 'sent', sent_at = now(), attempts = $2
                               WHERE id = $1""",
                            row["id"],
                            attempts,
                        )
                    else:
                        final = attempts >= MAX_ATTEMPTS
                        summary.failed += final
                        summary.retried += not final
                        log.warning("sms_failed", to=mask(row["msisdn"]), error=error, attempts=attempts)
                        await conn.execute(
                            """UPDATE notifications SET attempts = $2, last_error = $3,
                                   status = CASE WHEN $4 THEN 'failed' ELSE 'pending' END
                               WHERE id = $1""",
                            row["id"],
                            attempts,
                            error,
                            final,
                        )
                tried += len(rows)
                seen.extend(r["id"] for r in rows)
                if summary.retried and summary.sent == 0:
                    break  # the gateway is down: leave the rest for the next run
    summary.pending = await pending_count(conn)
    return summary
