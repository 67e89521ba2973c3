"""Idempotency-Key replays (SPEC §6): the first request with a key acts, later ones replay.

The claim is an INSERT of a placeholder row inside the acting transaction: a concurrent
request with the same key blocks on that row until the first commits, then finds the
stored answer (or, if the first rolled back, claims the key itself). The answer is
filled in before the same commit, so a committed row always holds a complete response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer given to the first request with a key."""

    body_hash: str
    status: int
    response: dict[str, Any]


async def claim(conn: Conn, scope: str, key: str, body_hash: str) -> StoredAnswer | None:
    """Inside a transaction: claim `key` (None: this request acts) or the stored answer to replay."""
    claimed = await conn.fetchval(
        """INSERT INTO idempotency_keys (scope, key, body_hash, status, response)
           VALUES ($1, $2, $3, 0, '{}'::jsonb)
           ON CONFLICT (scope, key) DO NOTHING RETURNING true""",
        scope,
        key,
        body_hash,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT body_hash, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    assert row is not None  # the conflicting row was committed before DO NOTHING returned
    return StoredAnswer(row["body_hash"], row["status"], row["response"])


async def complete(conn: Conn, scope: str, key: str, status: int, response: dict[str, Any]) -> dict[str, Any]:
    """Store the answer of a claimed key (same transaction as the claim); returns it as stored,
    so the first answer and every replay are byte for byte the same."""
    stored: dict[str, Any] = await conn.fetchval(
        """UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2
           RETURNING response""",
        scope,
        key,
        status,
        response,
    )
    return stored
