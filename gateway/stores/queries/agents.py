"""Agents (A1), their QA evaluations and monthly star ratings (A2): the directory the queue
engine holds in memory, the imports' merges and the rating run's reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from gateway.stores.queries.snapshot import Conn

#: The staging shape of `callgate import qa` (the file's row number travels along).
_QA_STAGE = (
    "row_no integer, agent_id text, evaluated_on date, attitude numeric(5,2), accuracy numeric(5,2), "
    "speed numeric(5,2), skill numeric(5,2), teamwork numeric(5,2)"
)
QA_COLUMNS = ("attitude", "accuracy", "speed", "skill", "teamwork")


@dataclass(frozen=True, slots=True)
class AgentRow:
    """An agent with the star in force on the day asked for (A1, A2)."""

    id: str
    name: str
    branch_code: str
    desks: tuple[str, ...]
    imported_star: int
    star: int
    rated_month: date | None  # the month whose rating is in force; None: the imported star
    explanation: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One stored QA evaluation (scores in points, two decimals)."""

    agent_id: str
    evaluated_on: date
    scores: dict[str, Decimal]


async def directory(db: asyncpg.Pool | Conn, today: date, timeout: float = 5.0) -> list[AgentRow]:
    """Every agent with the star in force on ``today``: the latest rating effective by then,
    else the imported star."""
    rows = await db.fetch(
        """SELECT a.id, a.name, a.branch_code, a.desks, a.star AS imported_star,
                  r.star AS rated_star, r.month, r.explanation
           FROM agents a
           LEFT JOIN LATERAL (
               SELECT star, month, explanation FROM agent_ratings r
               WHERE r.agent_id = a.id AND r.effective_from <= $1
               ORDER BY r.effective_from DESC, r.month DESC LIMIT 1
           ) r ON true
           ORDER BY a.id""",
        today,
        timeout=timeout,
    )
    return [
        AgentRow(
            r["id"],
            r["name"],
            r["branch_code"],
            tuple(r["desks"]),
            r["imported_star"],
            r["rated_star"] if r["rated_star"] is not None else r["imported_star"],
            r["month"],
            r["explanation"],
        )
        for r in rows
    ]


async def exists(conn: Conn, agent_id: str) -> bool:
    """Whether the agent is in the directory."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)", agent_id))


async def merge_agents(conn: Conn, records: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """Insert or update agents (id, name, branch_code, desks, star); (inserted, updated)."""
    await conn.execute(
        "CREATE TEMP TABLE stage_agents (id text, name text, branch_code text, desks text[], star smallint) "
        "ON COMMIT DROP"
    )
    await conn.copy_records_to_table("stage_agents", records=records)
    rows = await conn.fetch(
        """INSERT INTO agents AS a (id, name, branch_code, desks, star)
           SELECT id, name, branch_code, desks, star FROM stage_agents
           ON CONFLICT (id) DO UPDATE
               SET name = excluded.name, branch_code = excluded.branch_code, desks = excluded.desks,
                   star = excluded.star, updated_at = now()
           RETURNING (xmax = 0) AS inserted"""
    )
    inserted = sum(1 for r in rows if r["inserted"])
    return inserted, len(rows) - inserted


async def stage_qa(conn: Conn, records: Sequence[tuple[Any, ...]]) -> list[tuple[int, str]]:
    """Stage QA rows (row number first); (row, agent id) of the first 10,000 rows whose agent
    is not in the directory."""
    await conn.execute(f"CREATE TEMP TABLE stage_qa ({_QA_STAGE}) ON COMMIT DROP")
    await conn.copy_records_to_table("stage_qa", records=records)
    unknown = await conn.fetch(
        """SELECT st.row_no, st.agent_id FROM stage_qa st
           WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = st.agent_id)
           ORDER BY st.row_no LIMIT 10000"""
    )
    return [(r["row_no"], r["agent_id"]) for r in unknown]


async def merge_qa(conn: Conn) -> tuple[int, int]:
    """Insert the staged evaluations not yet recorded; (inserted, already recorded)."""
    rows = await conn.fetch(
        """INSERT INTO qa_evaluations (agent_id, evaluated_on, attitude, accuracy, speed, skill, teamwork)
           SELECT agent_id, evaluated_on, attitude, accuracy, speed, skill, teamwork FROM stage_qa
           ON CONFLICT (agent_id, evaluated_on, attitude, accuracy, speed, skill, teamwork) DO NOTHING
           RETURNING true AS inserted"""
    )
    total = await conn.fetchval("SELECT count(*) FROM stage_qa")
    return len(rows), int(total) - len(rows)


async def evaluations_in(conn: Conn, first: date, last: date) -> list[Evaluation]:
    """Every QA evaluation dated within [first, last], by agent and day."""
    rows = await conn.fetch(
        """SELECT agent_id, evaluated_on, attitude, accuracy, speed, skill, teamwork
           FROM qa_evaluations WHERE evaluated_on BETWEEN $1 AND $2
           ORDER BY agent_id, evaluated_on, id""",
        first,
        last,
    )
    return [Evaluation(r["agent_id"], r["evaluated_on"], {c: r[c] for c in QA_COLUMNS}) for r in rows]


async def save_rating(
    conn: Conn,
    agent_id: str,
    month: date,
    star: int,
    previous_star: int,
    score: Decimal,
    evaluations: int,
    effective_from: date,
    policy: str,
    policy_version: str,
    explanation: dict[str, Any],
) -> None:
    """Store an agent's rating for a month (a re-run of the month replaces it)."""
    await conn.execute(
        """INSERT INTO agent_ratings (agent_id, month, star, previous_star, score, evaluations,
               effective_from, policy, policy_version, explanation)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (agent_id, month) DO UPDATE
               SET star = excluded.star, previous_star = excluded.previous_star, score = excluded.score,
                   evaluations = excluded.evaluations, effective_from = excluded.effective_from,
                   policy = excluded.policy, policy_version = excluded.policy_version,
                   explanation = excluded.explanation, rated_at = now()""",
        agent_id,
        month,
        star,
        previous_star,
        score,
        evaluations,
        effective_from,
        policy,
        policy_version,
        explanation,
    )


async def history(conn: Conn, agent_id: str) -> list[dict[str, Any]]:
    """An agent's monthly ratings, newest first."""
    rows = await conn.fetch(
        """SELECT month, star, previous_star, score, evaluations, effective_from
           FROM agent_ratings WHERE agent_id = $1 ORDER BY month DESC""",
        agent_id,
    )
    return [dict(r) for r in rows]
