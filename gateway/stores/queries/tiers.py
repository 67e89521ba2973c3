"""Stored evaluations (tier_assignments rows with their explanations)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from entitlements.explain import Explanation, assignment_fields
from entitlements.months import Month
from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class StoredEvaluation:
    """One evaluation row, newest first in lists."""

    evaluated_month: date
    level: str
    change: str
    effective_from: date
    valid_until: date | None
    explanation: Explanation


async def explanations(conn: Conn, msisdn: str, policy: str, limit: int = 3) -> list[StoredEvaluation]:
    """The latest evaluations of a subscriber under a policy, newest first."""
    rows = await conn.fetch(
        """SELECT t.evaluated_month, t.level, t.change, t.effective_from, t.valid_until, e.explanation,
                  t.policy, t.policy_version, t.scheme, t.computed_level, t.previous_level
           FROM tier_assignments t
           LEFT JOIN tier_explanations e USING (msisdn, policy, evaluated_month)
           WHERE t.msisdn = $1 AND t.policy = $2 AND t.source = 'evaluation'
           ORDER BY t.evaluated_month DESC LIMIT $3""",
        msisdn,
        policy,
        limit,
    )
    return [  # every evaluation row carries its explanation; a hand-made row without one is skipped
        StoredEvaluation(
            r["evaluated_month"],
            r["level"],
            r["change"],
            r["effective_from"],
            r["valid_until"],
            _explanation(r),
        )
        for r in rows
        if r["explanation"] is not None
    ]


def _explanation(row: asyncpg.Record) -> Explanation:
    """The stored explanation, completed with what its assignment row holds (see stored_dict)."""
    fields = assignment_fields(
        row["policy"],
        row["policy_version"],
        row["scheme"],
        str(Month.of(row["evaluated_month"])),
        row["level"],
        row["computed_level"],
        row["previous_level"],
        row["change"],
        row["effective_from"],
        row["valid_until"],
    )
    return Explanation.from_dict({**row["explanation"], **fields})


async def rated_values(conn: Conn, policy: str, evaluated_month: date) -> list[str]:
    """The value figure (decimal text) of every subscriber rated in a month's evaluation (T1.7)."""
    rows = await conn.fetch(
        """SELECT explanation->'figures'->>'value' AS value FROM tier_explanations
           WHERE policy = $1 AND evaluated_month = $2 AND explanation->'figures'->>'value' IS NOT NULL""",
        policy,
        evaluated_month,
    )
    return [r["value"] for r in rows]


async def sample_callers(conn: Conn, policy: str, today: date) -> list[tuple[str, str]]:
    """(level, number): one caller per level in force today, not cancelled (the demo banner)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (t.level) t.level, t.msisdn
           FROM tier_assignments t JOIN subscribers s USING (msisdn)
           WHERE t.policy = $1 AND t.effective_from <= $2 AND (t.valid_until IS NULL OR t.valid_until >= $2)
             AND s.status <> 'cancelled'
           ORDER BY t.level, t.msisdn""",
        policy,
        today,
    )
    return [(r["level"], r["msisdn"]) for r in rows]
