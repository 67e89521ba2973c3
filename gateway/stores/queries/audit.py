"""The audit log (R11): every decision, granted or refused, with actor, role, channel,
code and the number masked plus a keyed hash for correlation — never the raw number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.logs import mask, number_ref
from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row."""

    id: int
    at: datetime
    actor: str
    role: str
    channel: str | None
    action: str
    msisdn_mask: str | None
    outcome: str
    code: str | None
    detail: dict[str, Any]


async def record(
    conn: Conn,
    *,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    outcome: str,
    msisdn: str | None = None,
    channel: str | None = None,
    code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append an audit row; returns its id."""
    audit_id = await conn.fetchval(
        """INSERT INTO audit_log (at, actor, role, channel, action, msisdn_mask, msisdn_hash, outcome,
                                  code, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
        at,
        actor,
        role,
        channel,
        action,
        mask(msisdn) if msisdn else None,
        number_ref(msisdn) if msisdn else None,
        outcome,
        code,
        detail or {},
    )
    return int(audit_id)


async def search(
    conn: Conn,
    *,
    msisdn: str | None,
    since: datetime | None,
    action: str | None,
    before_id: int | None,
    limit: int,
) -> list[AuditEntry]:
    """Audit rows, newest first, filtered by number (through its keyed hash), time and action."""
    rows = await conn.fetch(
        """SELECT id, at, actor, role, channel, action, msisdn_mask, outcome, code, detail
           FROM audit_log
           WHERE ($1::text IS NULL OR msisdn_hash = $1)
             AND ($2::timestamptz IS NULL OR at >= $2)
             AND ($3::text IS NULL OR action = $3)
             AND ($4::bigint IS NULL OR id < $4)
           ORDER BY id DESC LIMIT $5""",
        number_ref(msisdn) if msisdn else None,
        since,
        action,
        before_id,
        limit,
    )
    return [
        AuditEntry(
            r["id"],
            r["at"],
            r["actor"],
            r["role"],
            r["channel"],
            r["action"],
            r["msisdn_mask"],
            r["outcome"],
            r["code"],
            r["detail"],
        )
        for r in rows
    ]
