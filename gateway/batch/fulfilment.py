"""H8: VIP fulfilment after each monthly evaluation — the city branch gets a
`manager_assignment` work order for every subscriber who newly reached a level with a
customer manager and has none, and a `card_issue` order for every new or raised VIP card,
due by the last day of the month they were created in. Set-based, once per subscriber,
kind and month: re-running the evaluation (or this step) creates none twice."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from entitlements.model import bottom_level
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.servicing import CARD_SCHEMES, manager_levels
from entitlements.workorders import month_end_deadline
from gateway.stores.queries import workorders

ACTOR = "system:evaluation"


async def issue_orders(
    conn: asyncpg.Connection, policy: Policy, month: Month, now: datetime
) -> dict[str, int]:
    """Create the month's fulfilment orders (H8); counts by kind (only the new ones)."""
    schemes = sorted(CARD_SCHEMES)
    async with conn.transaction():
        return await workorders.create_fulfilment(
            conn,
            policy=policy.name,
            month=month.first_day,
            manager_levels=manager_levels(policy),
            card_schemes=schemes,
            no_card_levels=[bottom_level(s) for s in schemes],
            due_at=month_end_deadline(shanghai_today(now)),
            at=now,
            actor=ACTOR,
        )
