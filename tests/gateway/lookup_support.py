"""A small evaluated province and tokens for lookup tests."""

from __future__ import annotations

from datetime import date

import asyncpg

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from gateway.services.tokens import create_token
from tests.gateway import province

FIVE, FOUR, ONE, SUSPENDED_GOLD, CANCELLED, WITH_MANAGER_FOUR = (
    "18612340101", "18612340102", "18612340103", "18612340104", "18612340105", "18612340106",
)  # fmt: skip
TODAY = date(2026, 11, 26)


async def evaluated_province(conn: asyncpg.Connection, database_url: str) -> dict[str, str]:
    """Subscribers with tiers in force on TODAY, and tokens by role."""
    await province.branches(conn)
    manager = await conn.fetchval(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ('王丽', '18600001111', 'HA-ZZ') RETURNING id"
    )
    # tenure score 1.4 (joined 2020): ARPU 200 → 280 five-star, 110 → 154 four-star, 10 → 14 one-star
    await province.subscriber(conn, FIVE, manager_id=manager)
    await province.bills(conn, FIVE, "2025-09", "2026-10", 200)
    await province.subscriber(conn, FOUR)
    await province.bills(conn, FOUR, "2025-09", "2026-10", 110)
    await province.subscriber(conn, WITH_MANAGER_FOUR, manager_id=manager)
    await province.bills(conn, WITH_MANAGER_FOUR, "2025-09", "2026-10", 110)
    await province.subscriber(conn, ONE)
    await province.bills(conn, ONE, "2025-09", "2026-10", 10)
    # prepaid, suspended for one unpaid month, four-star → gold terms (R4: 100 yuan, 3 days)
    await province.subscriber(conn, SUSPENDED_GOLD, payment_mode="prepaid", status="suspended")
    await province.bills(conn, SUSPENDED_GOLD, "2025-09", "2026-10", 110, unpaid_from="2026-10")
    await province.subscriber(conn, CANCELLED, status="cancelled")
    await province.bills(conn, CANCELLED, "2025-09", "2026-10", 300)
    policy = load_policy("unicom-2015")
    # October's run gives the levels in force in November (T1.9)
    await evaluation.run(
        conn,
        policy,
        Month.parse("2026-10"),
        TODAY,
        dsn=database_url,
        redis_url=None,
        workers=1,
        show_progress=False,
    )
    tokens = {}
    for role in ("ivr", "agent", "admin"):
        tokens[role] = (await create_token(conn, role))[1]
    return tokens
