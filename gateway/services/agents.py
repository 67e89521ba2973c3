"""The agents directory (A1) held in memory, with each agent's star in force (A2).

The queue engine needs an agent's star and desks on every `next` (p99 ≤ 5 ms, SPEC §7):
the table is small, so every process holds it whole and reloads it every few seconds (and
at once, at most twice a second, for an id it does not know — an agent imported a moment
ago works at once). The star in force is the latest monthly rating effective by today
(Asia/Shanghai), else the star of the import; a rating run on the 6th changes nothing
before the 1st of the next month.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from entitlements.agentstars import render
from entitlements.months import shanghai_today
from gateway.logs import get_logger
from gateway.stores.queries import agents as agent_rows

log = get_logger("agents")
REFRESH_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent of the directory, with the star in force today."""

    id: str
    name: str
    branch_code: str
    desks: frozenset[str]
    star: int
    rated_month: date | None
    explanation: dict[str, Any] | None

    def star_json(self) -> dict[str, Any]:
        """The star with its explanation in both languages (A2), as the agent's view shows it."""
        return {
            "star": self.star,
            "rated_month": self.rated_month.strftime("%Y-%m") if self.rated_month else None,
            "source": "rating" if self.explanation else "import",
            "explanation": {lang: render(self.explanation, self.star, lang) for lang in ("zh", "en")},
        }


class AgentDirectory:
    """agent id → Agent, reloaded in the background."""

    def __init__(self, pool: asyncpg.Pool, clock: Callable[[], datetime]) -> None:
        self.pool = pool
        self.clock = clock
        self.agents: dict[str, Agent] = {}
        self.loaded = False
        self._last_forced = 0.0
        self._forced: asyncio.Future[None] | None = None

    async def refresh(self) -> None:
        """Reload every agent with the star in force today."""
        rows = await agent_rows.directory(self.pool, shanghai_today(self.clock()), timeout=2.0)
        self.agents = {
            r.id: Agent(r.id, r.name, r.branch_code, frozenset(r.desks), r.star, r.rated_month, r.explanation)
            for r in rows
        }
        self.loaded = True

    async def run(self) -> None:
        """Reload forever; keep the last good directory when the database is unreachable."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception as exc:  # the loop outlives any failed reload
                log.warning("agents_refresh_failed", error=type(exc).__name__)

    async def find(self, agent_id: str) -> Agent | None:
        """The agent, reloading once (at most twice a second) for an id not known yet; a
        burst of unknown ids waits for one reload together."""
        found = self.agents.get(agent_id)
        if found is not None:
            return found
        if self._forced is None or self._forced.done():
            if time.monotonic() - self._last_forced < 0.5:
                return None
            self._last_forced = time.monotonic()
            self._forced = asyncio.ensure_future(self._forced_refresh())
        await asyncio.shield(self._forced)
        return self.agents.get(agent_id)

    async def _forced_refresh(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
            await self.refresh()

    async def registered(self, agent_id: str) -> bool:
        """A1: whether the id belongs to an agent of the directory — asked of PostgreSQL when
        the copy in memory does not know it (an agent imported a second ago is protected at
        once). When the database cannot say, the id counts as registered: the check fails closed."""
        if agent_id in self.agents:
            return True
        try:
            async with self.pool.acquire(timeout=2.0) as conn:
                return await agent_rows.exists(conn, agent_id)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return True
