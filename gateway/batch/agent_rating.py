"""`callgate agents rate --month M` (A2): every agent with QA evaluations in M gets the star
their weighted mean score gives, in force from the 1st of M+1; the others keep theirs.

The decision is `entitlements.agentstars.rate_agent`; this job reads the month's
evaluations, the star each agent holds on M's last day, and writes one rating row per agent
and month in one transaction (a re-run of M replaces M's rows: the history of other months
stays).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import asyncpg

from entitlements.agentstars import AgentRating, QaEvaluation, rate_agent
from entitlements.months import Month
from entitlements.policy import Policy
from gateway.stores.queries import agents as agent_rows


@dataclass(slots=True)
class RatingRun:
    """What a rating run decided."""

    month: Month
    effective_from: date
    ratings: list[AgentRating] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # agents without an evaluation in the month

    def count(self, change: str) -> int:
        """Ratings that ``raised``, ``lowered`` or left ``unchanged`` the star."""
        return sum(1 for r in self.ratings if r.change == change)


def _milli(score: Decimal) -> int:
    return int(score * 1000)


async def rate_month(conn: asyncpg.Connection, policy: Policy, month: Month) -> RatingRun:
    """A2: rate every agent for ``month`` and store the ratings."""
    held = {a.id: a.star for a in await agent_rows.directory(conn, month.last_day)}
    evaluations: dict[str, list[QaEvaluation]] = defaultdict(list)
    for e in await agent_rows.evaluations_in(conn, month.first_day, month.last_day):
        evaluations[e.agent_id].append(
            QaEvaluation(e.agent_id, e.evaluated_on, {c: _milli(v) for c, v in e.scores.items()})
        )
    run = RatingRun(month, (month + 1).first_day)
    async with conn.transaction():
        for agent_id in sorted(held):
            rating = rate_agent(
                policy.agents.rating, month, agent_id, evaluations.get(agent_id, []), held[agent_id]
            )
            if rating is None:
                run.kept.append(agent_id)
                continue
            await agent_rows.save_rating(
                conn, agent_id, month.first_day, rating.star, rating.previous_star,
                Decimal(rating.score_hundredths) / 100, rating.evaluations, rating.effective_from,
                policy.name, policy.version, rating.explanation,
            )  # fmt: skip
            run.ratings.append(rating)
    return run
