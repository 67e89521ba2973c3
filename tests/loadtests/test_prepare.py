"""loadtests/prepare.py — callers, desks and tokens picked from a real database."""

from __future__ import annotations

import random
import re
from pathlib import Path

import asyncpg
import pytest

from entitlements.months import Month, shanghai_today
from entitlements.policy import load_policy
from gateway.batch import demo, evaluation
from gateway.numbers import InvalidNumber, normalise
from gateway.services.tokens import hash_token
from gateway.settings import Settings
from loadtests.prepare import (
    INVALID_SHARE,
    KNOWN_SHARE,
    PREFIXED_SHARE,
    UNKNOWN_SHARE,
    WITHHELD_SHARE,
    caller_groups,
    describe,
    malformed_numbers,
    prepare,
    sample_subscribers,
    unknown_numbers,
)


async def demo_province(conn: asyncpg.Connection, settings: Settings) -> None:
    """A small demo province with the tiers of last month's and this month's runs."""
    assert settings.database_url is not None
    today = shanghai_today(settings.clock())
    await demo.load(conn, 600, 2015, today, show_progress=False)
    policy = load_policy(settings.policy)
    for month in (Month.of(today) - 1, Month.of(today)):
        await evaluation.run(
            conn,
            policy,
            month,
            today,
            dsn=settings.database_url,
            redis_url=None,
            workers=1,
            show_progress=False,
        )


async def test_callers_cover_every_level_and_state(conn: asyncpg.Connection, settings: Settings) -> None:
    # rule Q1 and rule Q2: the mix holds every level and state the province has
    await demo_province(conn, settings)
    today = shanghai_today(settings.clock())
    sampled = await sample_subscribers(conn, settings.policy, today, per_group=25, seed=1)
    held = {
        (r["status"], r["msisdn"])
        for r in await conn.fetch(
            "SELECT status, msisdn FROM subscribers WHERE msisdn = ANY($1)", [s.msisdn for s in sampled]
        )
    }
    assert {(s.group[0], s.msisdn) for s in sampled} == held  # every number is real, status as grouped
    statuses = {s.group[0] for s in sampled}
    assert {"active", "suspended"} <= statuses
    levels = {s.serving_level for s in sampled if s.group[0] == "active"}
    assert {"five_star", "four_star", "three_star", "two_star"} <= levels
    unknown = await unknown_numbers(conn, random.Random(1), 50)
    groups = caller_groups(sampled, unknown, random.Random(1))
    weights = sum(g["weight"] for g in groups.values())
    assert weights == pytest.approx(
        KNOWN_SHARE + PREFIXED_SHARE + UNKNOWN_SHARE + WITHHELD_SHARE + INVALID_SHARE
    )
    assert groups["unknown"]["expect"] == {"status": 200, "known": False}
    assert not await conn.fetchval(
        "SELECT count(*) FROM subscribers WHERE msisdn = ANY($1)",
        [n for n, _ in groups["unknown"]["numbers"]],
    )
    prefixed = groups["+86/0086 prefix"]["numbers"]
    assert all(n.startswith(("+86", "0086")) for n, _ in prefixed)
    assert {normalise(n) for n, _ in prefixed} <= {s.msisdn for s in sampled}
    assert groups["invalid"]["expect"] == {"status": 400, "code": "invalid_number"}
    for name, group in groups.items():
        if name.startswith("cancelled"):
            assert group["expect"] == {"status": 200}  # how a cancelled number answers is the lookup's call
        elif name.startswith(("active", "suspended")):
            assert group["expect"] == {"status": 200, "known": True}
            assert all(level is not None for _, level in group["numbers"])


def test_malformed_numbers_are_all_refused_by_the_parser() -> None:
    numbers = malformed_numbers()
    assert len(numbers) >= 4
    for text in numbers:
        with pytest.raises(InvalidNumber):
            normalise(text)


async def test_prepare_writes_tokens_from_the_command_line(
    conn: asyncpg.Connection,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await demo_province(conn, settings)
    # `callgate tokens create` runs as a user would run it, against this test's database.
    monkeypatch.setenv("CALLGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLGATE_DATA_DIR", str(tmp_path))
    data = await prepare(settings, per_group=10, seed=2)
    for role in ("ivr", "agent", "branch"):
        row = await conn.fetchrow(
            "SELECT role, branch_code, expires_at FROM api_tokens WHERE token_hash = $1",
            hash_token(data["tokens"][role]),
        )
        assert row is not None and row["role"] == role and row["expires_at"] is not None
    assert data["tokens"]["branch_code"].startswith("HA-")
    assert data["agent"]["suspended"] and data["agent"]["profiles"]
    assert data["agent"]["password"] == demo.DEMO_PASSWORD
    summary = describe(data)
    assert "unknown" in summary and "invalid" in summary
    assert not re.search(r"[0-9]{7}", summary)  # group names and counts, never a number
