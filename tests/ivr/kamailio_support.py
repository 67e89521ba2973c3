"""A small province with known tiers for the Kamailio end-to-end test (issue 10), and the
environment of a real `callgate serve` over it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import evaluation
from tests.conftest import FIXED_NOW
from tests.gateway import province

# October's evaluation gives the levels in force on FIXED_NOW (2026-11-26; T1.9).
EVALUATED_MONTH = "2026-10"


@dataclass(frozen=True, slots=True)
class Expected:
    """Where a caller's call must land and the ACD headers it must carry."""

    queue: str
    tier: str = "-"
    level: str = "-"
    degraded: str = "false"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SipCaller:
    """A caller of the test: the label that may be logged, the number that may not."""

    label: str
    number: str
    expected: Expected


FIVE, FOUR, THREE, TWO, ONE, GUEST, CARD, YOUNG, UNKNOWN = (
    "18612350001", "18612350002", "18612350003", "18612350004", "18612350005",
    "18612350006", "18612350007", "18612350008", "18612359999",
)  # fmt: skip

# Joined 2020-01 → tenure score 1.4 in 2026 (T1.5); value = ARPU × 1.4 against the 2015
# thresholds 260 / 140 / 90 / 30 (T1.7). Queue and priority by the unicom-2015 policy (Q1, Q2).
CALLERS: tuple[SipCaller, ...] = (
    SipCaller("five_star", FIVE, Expected("vip", "star", "five_star")),  # ARPU 300 → 420
    SipCaller("four_star", FOUR, Expected("vip", "star", "four_star")),  # ARPU 150 → 210
    SipCaller("three_star", THREE, Expected("vip", "star", "three_star")),  # ARPU 80 → 112
    SipCaller("two_star", TWO, Expected("general", "star", "two_star")),  # ARPU 30 → 42
    SipCaller("one_star", ONE, Expected("general", "star", "one_star")),  # ARPU 10 → 14
    SipCaller("vip_guest", GUEST, Expected("vip", "star", "vip_guest")),  # flag by import (T1.8)
    SipCaller("legacy_gold_card", CARD, Expected("vip", "vip_card", "gold")),  # T1.11 transition
    SipCaller("new_line_unrated", YOUNG, Expected("general", "star", "unrated")),  # tenure 5 (T1.3)
    SipCaller("five_star_plus86", "+86" + FIVE, Expected("vip", "star", "five_star")),
    SipCaller("unknown", UNKNOWN, Expected("general")),
    SipCaller("withheld", "anonymous", Expected("general")),  # Q4: an ordinary unknown caller
    SipCaller("letters", "1861235abcd", Expected("general", degraded="true", error="invalid_number")),
    SipCaller("too_short", "186123", Expected("general", degraded="true", error="invalid_number")),
)


async def write_province(conn: asyncpg.Connection, database_url: str, redis_url: str) -> None:
    """The subscribers of CALLERS with 22 months of bills, a legacy card, and the evaluation
    that rates them (which also writes their cache records, as in production)."""
    await province.branches(conn)
    for number, yuan in ((FIVE, 300), (FOUR, 150), (THREE, 80), (TWO, 30), (ONE, 10), (CARD, 100)):
        await province.subscriber(conn, number)
        await province.bills(conn, number, "2025-01", EVALUATED_MONTH, yuan)
    await province.subscriber(conn, GUEST, flags=["vip_guest"])
    await province.bills(conn, GUEST, "2025-01", EVALUATED_MONTH, 10)
    await province.subscriber(conn, YOUNG, joined=date(2026, 6, 15))
    await province.bills(conn, YOUNG, "2026-06", EVALUATED_MONTH, 300)
    # A legacy gold card from the import, valid until 2027-06-08 (T2.5), honoured under
    # unicom-2015 until it expires (T1.11).
    await conn.execute(
        """INSERT INTO tier_assignments (msisdn, policy, evaluated_month, policy_version, scheme, level,
               change, effective_from, valid_until, since, source)
           VALUES ($1, 'unicom-vip', '2026-06-01', 'import', 'vip_card', 'gold', 'new', '2026-06-05',
                   '2027-06-08', '2026-06-05', 'import')""",
        CARD,
    )
    await evaluation.run(
        conn,
        load_policy("unicom-2015"),
        Month.parse(EVALUATED_MONTH),
        FIXED_NOW.date(),
        dsn=database_url,
        redis_url=redis_url,
        workers=1,
        show_progress=False,
    )


def callgate_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    """The environment of `callgate` commands over the test's stores, with the clock pinned."""
    data_dir.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    return {
        **inherited,
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(data_dir),
        "CALLGATE_NOW": FIXED_NOW.isoformat(),
        "CALLGATE_LOG_LEVEL": "info",
    }


def callgate_command() -> list[str]:
    """The `callgate` program of this virtual environment."""
    binary = Path(sys.executable).with_name("callgate")
    return [str(binary)] if binary.exists() else [sys.executable, "-m", "gateway.cli.main"]


def ivr_token(env: Mapping[str, str]) -> str:
    """A new bearer token of role ivr, from `callgate tokens create --role ivr` (its last line)."""
    done = subprocess.run(
        [*callgate_command(), "tokens", "create", "--role", "ivr"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"callgate tokens create failed ({done.returncode}): {done.stderr[-500:]}")
    return done.stdout.strip().splitlines()[-1].strip()
