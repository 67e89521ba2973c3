"""Customer managers' contacts (Q3), read whole by the lookup (a small table), and the
lookup's PostgreSQL probe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


async def merge_import(conn: Conn, records: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """H7: COPY (id, name, phone, branch, city) rows and upsert them by id; (inserted, updated).
    The id sequence moves past the imported ids so later managers never collide."""
    await conn.execute(
        """CREATE TEMP TABLE stage_managers (id bigint, name text, phone text, branch_code text,
               city_code text) ON COMMIT DROP"""
    )
    await conn.copy_records_to_table(
        "stage_managers", records=records, columns=("id", "name", "phone", "branch_code", "city_code")
    )
    rows = await conn.fetch(
        """INSERT INTO customer_managers AS m (id, name, phone, branch_code, city_code)
           SELECT id, name, phone, branch_code, city_code FROM stage_managers
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone,
               branch_code = excluded.branch_code, city_code = excluded.city_code
           RETURNING (xmax = 0) AS inserted"""
    )
    await conn.execute(
        """SELECT setval(pg_get_serial_sequence('customer_managers', 'id'),
                         greatest((SELECT max(id) FROM customer_managers), 1))"""
    )
    inserted = sum(1 for r in rows if r["inserted"])
    return inserted, len(rows) - inserted


async def branch_of(conn: Conn, manager_id: int) -> str | None:
    """The city a manager serves (H8: a manager assignment names a manager of the order's city)."""
    value = await conn.fetchval("SELECT city_code FROM customer_managers WHERE id = $1", manager_id)
    return None if value is None else str(value)
