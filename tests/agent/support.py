"""A small evaluated province for the agent-page browser tests: customers in the states
the widget must show, service passwords, and tokens per role."""

from __future__ import annotations

from datetime import date

import asyncpg

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from gateway.batch.demo import DEMO_PASSWORD
from gateway.services.identity import hash_password
from tests.gateway import grants, province
from tests.gateway.grants import Tokens

TODAY = date(2026, 11, 26)  # tests/conftest.py pins the service clock to this day
#: postpaid five-star, suspended for one unpaid month, with a customer manager: a grant
#: reactivates it for 48 h and opens a work order (R1, R2, R6, R10)
SUSPENDED_FIVE = "18612347001"
#: active four-star: a request is refused, not suspended (R2)
ACTIVE_FOUR = "18612347002"
#: suspended four-star whose password the tests get wrong until it locks (R9)
LOCKABLE = "18612347003"
#: prepaid four-star, suspended: reactivation with temporary credit, gold terms (R4)
PREPAID_FOUR = "18612347004"
#: suspended one-star: not entitled (R1)
ONE_STAR = "18612347005"
#: postpaid five-star, suspended: its grant gives the work order a branch dispatches (W2)
ORDER_SUBJECT = "18612347006"
PASSWORD = DEMO_PASSWORD


async def evaluated_province(conn: asyncpg.Connection, database_url: str) -> Tokens:
    """The customers above with the levels October's evaluation puts in force in November."""
    await province.branches(conn)
    await conn.execute(
        "INSERT INTO branches VALUES ('HA-ZZ-XZ', '新郑', 'county', 'HA-ZZ'), ('HA-ZZ-GY', '巩义', 'county', 'HA-ZZ')"
    )
    manager = await conn.fetchval(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ('王丽', '10018001', 'HA-ZZ') RETURNING id"
    )
    hashed = hash_password(PASSWORD)
    # tenure score 1.4 (joined 2020): ARPU 200 → 280 five-star, 110 → 154 four-star, 10 → 14 one-star
    for msisdn, yuan, mode, status, manager_id in (
        (SUSPENDED_FIVE, 200, "postpaid", "suspended", manager),
        (ACTIVE_FOUR, 110, "postpaid", "active", None),
        (LOCKABLE, 110, "postpaid", "suspended", None),
        (PREPAID_FOUR, 110, "prepaid", "suspended", None),
        (ONE_STAR, 10, "postpaid", "suspended", None),
        (ORDER_SUBJECT, 200, "postpaid", "suspended", manager),
    ):
        await province.subscriber(
            conn, msisdn, payment_mode=mode, status=status, manager_id=manager_id, password_hash=hashed
        )
        unpaid = "2026-10" if status == "suspended" else None
        await province.bills(conn, msisdn, "2025-09", "2026-10", yuan, unpaid_from=unpaid)
    await evaluation.run(
        conn, load_policy("unicom-2015"), Month.parse("2026-10"), TODAY, dsn=database_url, redis_url=None,
        workers=1, show_progress=False,
    )  # fmt: skip
    return await grants.tokens(conn)
