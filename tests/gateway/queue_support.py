"""Agents and bound tokens for the queue-engine tests (A1, A4), on the small evaluated
province of lookup_support (a five-star, a four-star and a one-star caller in November)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.services.tokens import create_token
from tests.gateway.lookup_support import evaluated_province

#: (id, desks, star) of the agents every queue test has.
AGENTS = (
    ("A4", ("vip", "general"), 4),  # may take any caller at once
    ("A3", ("vip", "general"), 3),  # a five-star caller only after 20 s
    ("G1", ("general",), 1),  # never a VIP-desk call
)


@dataclass(frozen=True, slots=True)
class Desk:
    """Tokens: the ACD's (ivr), an admin's, an unbound agent token, and one bound to each agent."""

    ivr: str
    admin: str
    agent: str
    bound: dict[str, str]


async def add_agents(conn: asyncpg.Connection, rows: Iterable[tuple[str, tuple[str, ...], int]]) -> None:
    """Agents straight into the directory (the import has its own tests)."""
    await conn.executemany(
        "INSERT INTO agents (id, name, branch_code, desks, star) VALUES ($1, $2, 'HA-ZZ', $3, $4)",
        [(agent_id, f"坐席{agent_id}", list(desks), star) for agent_id, desks, star in rows],
    )


async def queue_desk(conn: asyncpg.Connection, database_url: str) -> Desk:
    """The evaluated province, the agents above and their tokens (call before the app starts)."""
    tokens = await evaluated_province(conn, database_url)
    await add_agents(conn, AGENTS)
    bound = {a: (await create_token(conn, "agent", name=a, agent_id=a))[1] for a, _, _ in AGENTS}
    return Desk(tokens["ivr"], tokens["admin"], tokens["agent"], bound)


def auth(token: str) -> dict[str, str]:
    """The Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def call(
    client: TestClient[Any, Any], method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    """A request with a token; (status, JSON or None for an empty body)."""
    response = await client.request(method, path, json=body, headers=auth(token))
    text = await response.text()
    if not text:
        return response.status, None
    return response.status, await response.json(content_type=None)
