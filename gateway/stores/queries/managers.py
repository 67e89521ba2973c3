"""Customer managers' contacts (Q3), read whole by the lookup (a small table), and the
lookup's PostgreSQL probe."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Manager:
    """A customer manager's contact (Q3)."""

    id: int
    name: str
    phone: str


async def every_manager(db: asyncpg.Pool | Conn, timeout: float) -> list[Manager]:
    """Every customer manager's contact."""
    rows = await db.fetch("SELECT id, name, phone FROM customer_managers", timeout=timeout)
    return [Manager(r["id"], r["name"], r["phone"]) for r in rows]


async def answers(db: asyncpg.Pool | Conn, timeout: float) -> None:
    """Raise unless PostgreSQL answers a trivial query within `timeout` (the breaker's probe)."""
    await db.fetchval("SELECT 1", timeout=timeout)
