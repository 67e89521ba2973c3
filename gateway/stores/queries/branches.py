"""The branch tree (province → city → county), read for the agent page's pickers."""

from __future__ import annotations

from gateway.stores.queries.snapshot import Conn
from gateway.stores.queries.workorders import Branch


async def listing(conn: Conn, parent_code: str | None = None) -> list[Branch]:
    """Every branch, or the children of `parent_code`, by code."""
    rows = await conn.fetch(
        """SELECT code, name, level, parent_code FROM branches
           WHERE $1::text IS NULL OR parent_code = $1
           ORDER BY code""",
        parent_code,
    )
    return [Branch(r["code"], r["name"], r["level"], r["parent_code"]) for r in rows]
