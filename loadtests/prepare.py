"""Prepare the load test's callers, desks and tokens from the database — never by hand.

Reads the province the service runs on (``CALLGATE_DATABASE_URL``, else the embedded store
under ``CALLGATE_DATA_DIR``, reused when `callgate serve` already runs it) and writes one
JSON file for ``loadtests/locustfile.py``:

* callers grouped by status and the tier serving them today (every level and state the
  province has), each number with the level the lookup must answer; each group weighted by
  its share of the province; plus unknown numbers (valid numbers of another operator),
  withheld caller IDs, malformed numbers (the 400 branch) and known numbers written with
  ``+86`` / ``0086``;
* numbers for the agent desk: profiles to view, suspended subscribers to reactivate;
* a city branch for the branch desk;
* bearer tokens (ivr, agent, branch) from ``callgate tokens create`` (12 h expiry).

The file holds tokens: it is written with mode 0600 under the data directory, not under
``artifacts/``. Usage::

    CALLGATE_DATA_DIR=var/loadtest/province-20000 .venv/bin/python -m loadtests.prepare --out FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from entitlements.months import shanghai_today
from entitlements.policy import load_policy
from entitlements.tiers import tier_in_force
from gateway.batch.demo import DEMO_PASSWORD
from gateway.numbers import InvalidNumber, normalise
from gateway.settings import Settings
from gateway.stores import db
from gateway.stores.launch import start_stores
from gateway.stores.queries import snapshot

ROOT = Path(__file__).resolve().parent.parent

# The share of calls by kind of caller [assumption: a plausible 10010 mix; change here].
KNOWN_SHARE = 0.84  # subscribers of the province, by their share of it
PREFIXED_SHARE = 0.05  # the same, written +86… / 0086…
UNKNOWN_SHARE = 0.07  # valid numbers the province does not hold
WITHHELD_SHARE = 0.02  # anonymous / unknown / empty caller ID
INVALID_SHARE = 0.02  # malformed numbers: the IVR's error branch (400 invalid_number)

OTHER_OPERATOR_PREFIXES = ("134", "135", "138", "139", "150", "151", "158", "188")  # not in the demo
WITHHELD = ("anonymous", "unknown", "")
MALFORMED = ("12345", "1860000000", "186000000001", "186-abc-5678", "+12025550143", "99999999999")

_SAMPLE = """
WITH inforce AS (
    SELECT DISTINCT ON (t.msisdn) t.msisdn, t.scheme, t.level
    FROM tier_assignments t
    WHERE (t.policy = $1 OR t.source = 'import')
      AND t.effective_from <= $2 AND (t.valid_until IS NULL OR t.valid_until >= $2)
    ORDER BY t.msisdn, (t.scheme = 'vip_card' AND t.level <> 'none') DESC, t.effective_from DESC
), ranked AS (
    SELECT s.msisdn, s.status, coalesce(i.scheme, '-') AS scheme, coalesce(i.level, '-') AS level,
           row_number() OVER (PARTITION BY s.status, i.scheme, i.level ORDER BY md5(s.msisdn || $3)) AS k,
           count(*) OVER (PARTITION BY s.status, i.scheme, i.level) AS population
    FROM subscribers s LEFT JOIN inforce i USING (msisdn)
)
SELECT msisdn, status, scheme, level, population FROM ranked WHERE k <= $4
"""


@dataclass(frozen=True, slots=True)
class Sampled:
    """A sampled subscriber: its group (status, scheme, level) and the level served today."""

    msisdn: str
    group: tuple[str, str, str]
    population: int
    serving_level: str | None


async def sample_subscribers(
    conn: asyncpg.Connection, policy_name: str, today: date, per_group: int, seed: int
) -> list[Sampled]:
    """Up to ``per_group`` subscribers of each (status, scheme, level) group, with the level
    the lookup serves today computed by the engine itself (``tier_in_force``)."""
    rows = await conn.fetch(_SAMPLE, policy_name, today, str(seed), per_group)
    policy = load_policy(policy_name)
    legacy = policy.transition.legacy_scheme if policy.transition else None
    snaps = {
        s.subscriber.msisdn: s for s in await snapshot.load_many(conn, [r["msisdn"] for r in rows], today)
    }
    found = []
    for r in rows:
        snap = snaps.get(r["msisdn"])
        serving = tier_in_force(snap.serving(policy_name, legacy), today) if snap is not None else None
        found.append(
            Sampled(
                msisdn=r["msisdn"],
                group=(r["status"], r["scheme"], r["level"]),
                population=r["population"],
                serving_level=serving.level if serving is not None else None,
            )
        )
    return found


async def unknown_numbers(conn: asyncpg.Connection, rng: random.Random, n: int) -> list[str]:
    """Valid mobile numbers of other operators that the province does not hold."""
    candidates = {f"{rng.choice(OTHER_OPERATOR_PREFIXES)}{rng.randrange(10**8):08d}" for _ in range(n * 2)}
    held = {
        r["msisdn"]
        for r in await conn.fetch("SELECT msisdn FROM subscribers WHERE msisdn = ANY($1)", list(candidates))
    }
    valid = []
    for number in sorted(candidates - held):
        try:
            valid.append(normalise(number))
        except InvalidNumber:
            continue
    rng.shuffle(valid)
    return valid[:n]


def malformed_numbers() -> list[str]:
    """Numbers the lookup must refuse with 400 invalid_number (checked against our own parser)."""
    bad = []
    for text in MALFORMED:
        try:
            normalise(text)
        except InvalidNumber:
            bad.append(text)
    return bad


def caller_groups(
    sampled: list[Sampled], unknown: list[str], rng: random.Random
) -> dict[str, dict[str, Any]]:
    """The caller mix: named groups with a weight (share of calls), an expectation and numbers."""
    by_group: dict[tuple[str, str, str], list[Sampled]] = defaultdict(list)
    for s in sampled:
        by_group[s.group].append(s)
    total = sum(members[0].population for members in by_group.values()) or 1
    groups: dict[str, dict[str, Any]] = {}
    for (status, scheme, level), members in sorted(by_group.items()):
        name = f"{status}/{scheme}/{level}" if scheme != "-" else f"{status}/no tier"
        # A cancelled number's answer (known or not, which level) is the lookup's own business.
        cancelled = status == "cancelled"
        groups[name] = {
            "name": name,
            "weight": KNOWN_SHARE * members[0].population / total,
            "expect": {"status": 200} if cancelled else {"status": 200, "known": True},
            "numbers": [[m.msisdn, None if cancelled else m.serving_level] for m in members],
        }
    mobiles = [s for s in sampled if s.msisdn.startswith("1") and s.group[0] != "cancelled"]
    prefixed = rng.sample(mobiles, min(len(mobiles), 400))
    groups["+86/0086 prefix"] = {
        "name": "+86/0086 prefix",
        "weight": PREFIXED_SHARE,
        "expect": {"status": 200, "known": True},
        "numbers": [[rng.choice(("+86", "0086", "+86 ")) + s.msisdn, s.serving_level] for s in prefixed],
    }
    groups["unknown"] = {
        "name": "unknown",
        "weight": UNKNOWN_SHARE,
        "expect": {"status": 200, "known": False},
        "numbers": [[n, None] for n in unknown],
    }
    groups["withheld"] = {
        "name": "withheld",
        "weight": WITHHELD_SHARE,
        "expect": {"status": 200, "known": False},
        "numbers": [[n, None] for n in WITHHELD],
    }
    groups["invalid"] = {
        "name": "invalid",
        "weight": INVALID_SHARE,
        "expect": {"status": 400, "code": "invalid_number"},
        "numbers": [[n, None] for n in malformed_numbers()],
    }
    return {name: g for name, g in groups.items() if g["numbers"]}


def create_token(role: str, branch: str | None = None) -> str:
    """A bearer token from `callgate tokens create` (the same stores, via the environment)."""
    args = [
        sys.executable,
        "-m",
        "gateway.cli.main",
        "tokens",
        "create",
        "--role",
        role,
        "--name",
        f"loadtest {role}",
    ]
    args += ["--expires-in", "12h"]
    if branch:
        args += ["--branch", branch]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"callgate tokens create --role {role} failed: {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


async def prepare(settings: Settings, per_group: int, seed: int) -> dict[str, Any]:
    """Everything the locustfile needs, read from the database."""
    assert settings.database_url is not None
    rng = random.Random(seed)
    today = shanghai_today(settings.clock())
    conn = await db.connect(settings.database_url)
    try:
        sampled = await sample_subscribers(conn, settings.policy, today, per_group, seed)
        if not sampled:
            raise RuntimeError("the database holds no subscribers: load a province first")
        unknown = await unknown_numbers(conn, rng, 500)
        city = await conn.fetchval(
            "SELECT city_code FROM subscribers GROUP BY city_code ORDER BY count(*) DESC, city_code LIMIT 1"
        )
    finally:
        await conn.close()
    groups = caller_groups(sampled, unknown, rng)
    suspended = [s.msisdn for s in sampled if s.group[0] == "suspended"]
    profiles = [s.msisdn for s in sampled if s.group[0] != "cancelled"]
    return {
        "policy": settings.policy,
        "today": today.isoformat(),
        "callers": groups,
        "agent": {"profiles": profiles, "suspended": suspended, "password": DEMO_PASSWORD, "credit": []},
        "tokens": {
            "ivr": create_token("ivr"),
            "agent": create_token("agent"),
            "branch": create_token("branch", city),
            "branch_code": city,
        },
    }


def describe(data: dict[str, Any]) -> str:
    """A short summary of the prepared mix (group names, shares and counts; no numbers)."""
    lines = [f"caller mix ({data['policy']}, {data['today']}):"]
    for name, g in data["callers"].items():
        lines.append(f"  {g['weight']:6.2%}  {name:<34} {len(g['numbers']):>4} numbers")
    agent = data["agent"]
    lines.append(
        f"agent desk: {len(agent['profiles'])} profiles, {len(agent['suspended'])} suspended; "
        f"branch desk: {data['tokens']['branch_code']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the prepared data file; print its summary."""
    parser = argparse.ArgumentParser(prog="loadtests.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write (holds tokens)")
    parser.add_argument("--per-group", type=int, default=300, help="numbers sampled per group (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    stores = start_stores(Settings.from_env(), need_redis=False)
    try:
        data = asyncio.run(prepare(stores.settings, args.per_group, args.seed))
    finally:
        stores.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
    print(describe(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
