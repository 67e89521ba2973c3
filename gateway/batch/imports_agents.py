"""The agents' CSV imports (SPEC §9): `callgate import agents` (A1) and `callgate import qa`
(A2), validated row by row like every import (`gateway.batch.importer`, which registers
them): one bad row rejects the whole file with its spreadsheet row number and reason.

- agents: ``id,name,branch_code,desks,star`` — ``desks`` ``;``-separated from
  ``vip,general``; ``star`` 1–5, the rating in force until the first monthly rating.
  Re-importing updates an agent (never deletes one).
- qa: ``agent_id,evaluated_on,attitude,accuracy,speed,skill,teamwork`` — scores 0–100 with
  at most two decimals; an evaluation identical to one imported before is not added again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from gateway.stores.queries import agents as agent_rows

COLUMNS: dict[str, tuple[str, ...]] = {
    "agents": ("id", "name", "branch_code", "desks", "star"),
    "qa": ("agent_id", "evaluated_on", *agent_rows.QA_COLUMNS),
}
DESKS = ("vip", "general")
_AGENT_ID = re.compile(r"^[A-Za-z0-9@._-]{1,64}$")
_SCORE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,2})?$")


class BadRow(ValueError):
    """A row the import refuses (the importer reports it with the row number)."""


class Context(Protocol):
    """What a row check needs of the importer's validator."""

    today: date
    branches: dict[str, tuple[str, str | None]]
    seen: dict[Any, int]


def _unique(ctx: Context, key: Any, row: int, what: str) -> None:
    first = ctx.seen.get(key)
    if first is not None:
        raise BadRow(f"duplicate {what} (first seen in row {first})")
    ctx.seen[key] = row


def _agent_id(value: str, name: str) -> str:
    if not _AGENT_ID.match(value):
        raise BadRow(f"{name} {value!r} must be 1–64 letters, digits or @._-")
    return value


def agents_row(v: list[str], row: int, ctx: Context) -> tuple[Any, ...]:
    """A1: one agent, in the staging table's column order."""
    agent_id, name, branch, desks_raw, star_raw = v
    _agent_id(agent_id, "id")
    _unique(ctx, ("agent", agent_id), row, f"agent {agent_id}")
    if not name:
        raise BadRow("name is required")
    if len(name) > 100:
        raise BadRow("name is longer than 100 characters")
    if branch not in ctx.branches:
        raise BadRow(f"branch_code {branch!r} is not a known branch")
    desks = [d for d in desks_raw.split(";") if d]
    if not desks:
        raise BadRow("desks is required: vip, general or vip;general")
    unknown = sorted(set(desks) - set(DESKS))
    if unknown:
        raise BadRow(f"unknown desk(s) {', '.join(unknown)}; allowed: {', '.join(DESKS)}")
    if len(set(desks)) != len(desks):
        raise BadRow("a desk is repeated")
    if star_raw not in ("1", "2", "3", "4", "5"):
        raise BadRow(f"star {star_raw!r} must be a whole number from 1 to 5")
    return (agent_id, name, branch, desks, int(star_raw))


def _score(value: str, name: str) -> Decimal:
    if not _SCORE.match(value):
        raise BadRow(f"{name} {value!r} must be a score from 0 to 100 (at most two decimals)")
    try:
        score = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise BadRow(f"{name} {value!r} is not a number") from None
    if score > 100:
        raise BadRow(f"{name} {value} is above 100")
    return score


def qa_row(v: list[str], row: int, ctx: Context) -> tuple[Any, ...]:
    """A2: one QA evaluation, row number first (unknown agents are found by the load)."""
    agent_id = _agent_id(v[0], "agent_id")
    try:
        evaluated_on = date.fromisoformat(v[1])
    except ValueError:
        raise BadRow(f"evaluated_on {v[1]!r} is not a date (YYYY-MM-DD)") from None
    if evaluated_on > ctx.today:
        raise BadRow(f"evaluated_on {evaluated_on} is in the future")
    scores = tuple(_score(value, name) for value, name in zip(v[2:], agent_rows.QA_COLUMNS, strict=True))
    _unique(ctx, ("qa", agent_id, evaluated_on, scores), row, "evaluation (same agent, day and scores)")
    return (row, agent_id, evaluated_on, *scores)


VALIDATORS: dict[str, Callable[[list[str], int, Context], tuple[Any, ...]]] = {
    "agents": agents_row,
    "qa": qa_row,
}


async def load(
    conn: Any, kind: str, records: list[tuple[Any, ...]], path: Path
) -> tuple[int, int, list[tuple[int, str]]]:
    """COPY and merge validated rows; (inserted, updated or already there, [(row, reason)] of
    rows the database refuses: QA rows of agents not in the directory)."""
    if kind == "agents":
        inserted, updated = await agent_rows.merge_agents(conn, records)
        return inserted, updated, []
    unknown = await agent_rows.stage_qa(conn, records)
    if unknown:
        return (
            0,
            0,
            [(row, f"agent_id {agent_id!r} is not in the agents directory") for row, agent_id in unknown],
        )
    inserted, already = await agent_rows.merge_qa(conn)
    return inserted, already, []
