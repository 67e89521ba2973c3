"""A hand-made province for service tests: subscribers and bills written straight to SQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import asyncpg

from entitlements.months import Month


async def branches(conn: asyncpg.Connection) -> None:
    """One province, two cities, a county in each."""
    await conn.execute(
        """INSERT INTO branches VALUES
             ('HA', '河南', 'province', NULL),
             ('HA-ZZ', '郑州', 'city', 'HA'), ('HA-ZZ-ZM', '中牟', 'county', 'HA-ZZ'),
             ('HA-LY', '洛阳', 'city', 'HA'), ('HA-LY-YS', '偃师', 'county', 'HA-LY')"""
    )


async def subscriber(
    conn: asyncpg.Connection,
    msisdn: str,
    *,
    joined: date = date(2020, 1, 10),
    payment_mode: str = "postpaid",
    status: str = "active",
    network: str = "4g",
    flags: Iterable[str] = (),
    city: str = "HA-ZZ",
    county: str | None = "HA-ZZ-ZM",
    manager_id: int | None = None,
    password_hash: str | None = None,
) -> None:
    """A mobile subscriber with sensible defaults."""
    await conn.execute(
        """INSERT INTO subscribers (msisdn, service_type, network, payment_mode, plan_code, brand, status,
                                    joined_on, city_code, county_code, flags, manager_id, password_hash)
           VALUES ($1, 'mobile', $2, $3, 'M99', 'gotone', $4, $5, $6, $7, $8, $9, $10)""",
        msisdn,
        network,
        payment_mode,
        status,
        joined,
        city,
        county,
        sorted(flags),
        manager_id,
        password_hash,
    )


async def bills(
    conn: asyncpg.Connection,
    msisdn: str,
    first: str,
    last: str,
    yuan: int | dict[str, int],
    *,
    unpaid_from: str | None = None,
) -> None:
    """Monthly bills of `yuan` (or a per-month dict with a default under key '*'), paid in full
    except from `unpaid_from` on."""
    start, end = Month.parse(first), Month.parse(last)
    rows = []
    for m in range(int(start), int(end) + 1):
        month = Month(m)
        amount = yuan if isinstance(yuan, int) else yuan.get(str(month), yuan["*"])
        paid = 0 if unpaid_from is not None and month >= Month.parse(unpaid_from) else amount * 100
        rows.append((msisdn, month.first_day, amount * 100, paid))
    await conn.copy_records_to_table(
        "bills", records=rows, columns=("msisdn", "month", "billed_fen", "paid_fen")
    )
