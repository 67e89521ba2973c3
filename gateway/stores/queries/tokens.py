"""API tokens as stored: only their SHA-256 hashes, with role, branch, expiry and revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class StoredToken:
    """One row of `callgate tokens list` (never the token itself)."""

    id: int
    role: str
    branch_code: str | None
    name: str
    demo: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class LiveToken:
    """An unrevoked token as the HTTP edge's token cache holds it (by its hash)."""

    id: int
    token_hash: str
    role: str
    branch_code: str | None
    name: str
    expires_at: datetime | None
    agent_id: str | None


async def live(db: asyncpg.Pool | Conn, timeout: float) -> list[LiveToken]:
    """Every unrevoked token (a small table, reloaded every couple of seconds by each process)."""
    rows = await db.fetch(
        """SELECT id, token_hash, role, branch_code, name, expires_at, agent_id
           FROM api_tokens WHERE revoked_at IS NULL""",
        timeout=timeout,
    )
    return [
        LiveToken(
            r["id"], r["token_hash"], r["role"], r["branch_code"], r["name"], r["expires_at"], r["agent_id"]
        )
        for r in rows
    ]


async def insert(
    conn: Conn,
    token_hash: str,
    role: str,
    branch_code: str | None,
    name: str,
    expires_at: datetime | None,
    agent_id: str | None = None,
) -> int:
    """Store a token's hash (bound to an agent when ``agent_id`` is given, A1); returns its id."""
    token_id = await conn.fetchval(
        """INSERT INTO api_tokens (token_hash, role, branch_code, name, expires_at, agent_id)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        token_hash,
        role,
        branch_code,
        name,
        expires_at,
        agent_id,
    )
    return int(token_id)


async def insert_demo(
    conn: Conn, token_hash: str, role: str, branch_code: str | None, name: str, agent_id: str | None = None
) -> None:
    """Store a well-known demo token (flagged `demo`), unless it is there already."""
    await conn.execute(
        """INSERT INTO api_tokens (token_hash, role, branch_code, name, demo, agent_id)
           VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT (token_hash) DO NOTHING""",
        token_hash,
        role,
        branch_code,
        name,
        agent_id,
    )


#: X3: the channel a revocation is announced on; every serving process listens and reloads.
REVOKED_CHANNEL = "callgate_tokens_revoked"


async def revoke(conn: Conn, token_id: int) -> bool:
    """Revoke a live token and announce it (NOTIFY, sent at commit); False when there is no
    live token with that id."""
    found = await conn.fetch(
        """WITH revoked AS (
               UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id
           )
           SELECT pg_notify($2, id::text) FROM revoked""",
        token_id,
        REVOKED_CHANNEL,
    )
    return bool(found)


async def listing(conn: Conn) -> list[StoredToken]:
    """Every token, by id."""
    rows = await conn.fetch(
        """SELECT id, role, branch_code, name, demo, created_at, expires_at, revoked_at, agent_id
           FROM api_tokens ORDER BY id"""
    )
    return [
        StoredToken(
            r["id"],
            r["role"],
            r["branch_code"],
            r["name"],
            r["demo"],
            r["created_at"],
            r["expires_at"],
            r["revoked_at"],
            r["agent_id"],
        )
        for r in rows
    ]


async def live_demo_count(conn: Conn) -> int:
    """Demo tokens not revoked (production refuses to start while any is live)."""
    return int(await conn.fetchval("SELECT count(*) FROM api_tokens WHERE demo AND revoked_at IS NULL"))
