"""Agents (A1) and their monthly star rating (A2): imports, the rating run, bound tokens and
the command line, against the real PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg
import pytest

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import agent_rating
from gateway.batch.importer import ImportRejected, import_file
from gateway.services.tokens import create_token, hash_token
from gateway.stores.queries import agents as agent_rows
from tests.gateway import province
from tests.gateway.test_cli import callgate, store_env

TODAY = date(2026, 11, 26)
AGENTS_CSV = "id,name,branch_code,desks,star\nA1001,王丽,HA-ZZ,vip;general,3\nA1002,李强,HA-LY,general,2\nA1003,张敏,HA,vip,5\n"
QA_HEADER = "agent_id,evaluated_on,attitude,accuracy,speed,skill,teamwork\n"


def csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def directory(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await province.branches(conn)
    await import_file(conn, "agents", csv(tmp_path, "agents.csv", AGENTS_CSV), TODAY, show_progress=False)


async def test_import_agents(conn: asyncpg.Connection, tmp_path: Path, directory: None) -> None:
    # rule A1: `callgate import agents` with id,name,branch_code,desks,star
    rows = await agent_rows.directory(conn, TODAY)
    assert [(a.id, a.desks, a.star, a.rated_month) for a in rows] == [
        ("A1001", ("vip", "general"), 3, None),
        ("A1002", ("general",), 2, None),
        ("A1003", ("vip",), 5, None),
    ]
    again = await import_file(
        conn, "agents", csv(tmp_path, "again.csv", "id,name,branch_code,desks,star\nA1002,李强,HA-LY,vip;general,4\n"),
        TODAY, show_progress=False,
    )  # fmt: skip
    assert (again.inserted, again.updated) == (0, 1)
    moved = {a.id: a for a in await agent_rows.directory(conn, TODAY)}["A1002"]
    assert (moved.desks, moved.star) == (("vip", "general"), 4)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param("A9,王,HA-ZZ,vip;sales,3", "unknown desk(s) sales", id="a desk that does not exist"),
        pytest.param("A9,王,HA-ZZ,,3", "desks is required", id="no desk"),
        pytest.param("A9,王,HA-ZZ,vip;vip,3", "a desk is repeated", id="a desk twice"),
        pytest.param("A9,王,HA-ZZ,vip,6", "star '6' must be a whole number from 1 to 5", id="a six-star agent"),
        pytest.param("A9,王,HA-ZZ,vip,4.5", "must be a whole number", id="half a star"),
        pytest.param("A9,王,XX,vip,3", "branch_code 'XX' is not a known branch", id="an unknown branch"),
        pytest.param("A 9,王,HA-ZZ,vip,3", "must be 1–64 letters, digits", id="a space in the id"),
        pytest.param("A9,,HA-ZZ,vip,3", "name is required", id="no name"),
        pytest.param("A1001,王,HA-ZZ,vip,3", "duplicate agent A1001 (first seen in row 2)", id="an id twice"),
    ],
)  # fmt: skip
async def test_a_bad_agent_row_rejects_the_file(
    conn: asyncpg.Connection, tmp_path: Path, row: str, reason: str
) -> None:
    # rule A1: like every import, one bad row rejects the file with its row number and reason
    await province.branches(conn)
    text = "id,name,branch_code,desks,star\nA1001,王丽,HA-ZZ,vip,3\n" + row + "\n"
    with pytest.raises(ImportRejected) as caught:
        await import_file(conn, "agents", csv(tmp_path, "bad.csv", text), TODAY, show_progress=False)
    assert caught.value.errors[0].row == 3 and reason in caught.value.errors[0].reason
    assert await conn.fetchval("SELECT count(*) FROM agents") == 0


async def test_import_qa(conn: asyncpg.Connection, tmp_path: Path, directory: None) -> None:
    # rule A2: `callgate import qa` — scores 0–100; unknown agents and bad scores reject the file;
    # the same evaluation imported twice is kept once
    good = QA_HEADER + "A1001,2026-11-03,90,85,88,86,88\nA1001,2026-11-20,92,80,85.5,90,85\n"
    first = await import_file(conn, "qa", csv(tmp_path, "qa.csv", good), TODAY, show_progress=False)
    again = await import_file(conn, "qa", csv(tmp_path, "qa.csv", good), TODAY, show_progress=False)
    assert (first.inserted, again.inserted, again.updated) == (2, 0, 2)
    for row, reason in (
        ("NOBODY,2026-11-03,90,90,90,90,90", "agent_id 'NOBODY' is not in the agents directory"),
        ("A1001,2026-11-03,101,90,90,90,90", "attitude 101 is above 100"),
        ("A1001,2026-11-03,90,9.999,90,90,90", "accuracy '9.999' must be a score from 0 to 100"),
        ("A1001,2026-12-01,90,90,90,90,90", "is in the future"),
    ):
        with pytest.raises(ImportRejected) as caught:
            await import_file(
                conn, "qa", csv(tmp_path, "bad.csv", QA_HEADER + row + "\n"), TODAY, show_progress=False
            )
        assert caught.value.errors[0].row == 2 and reason in caught.value.errors[0].reason, row
    assert await conn.fetchval("SELECT count(*) FROM qa_evaluations") == 2


async def test_monthly_rating_from_a_month_of_qa_rows(
    conn: asyncpg.Connection, tmp_path: Path, directory: None
) -> None:
    # rule A2: a month of QA rows → the stars the S278 thresholds give, in force from the 1st of
    # the next month, explained; an agent without an evaluation keeps their star; history kept
    rows = (
        "A1001,2026-10-03,90,85,88,86,88\nA1001,2026-10-20,92,80,85.5,90,85\n"  # 86.95: four stars
        "A1002,2026-10-11,50,55,40,60,45\n"  # 50: one star
        "A1002,2026-09-30,99,99,99,99,99\n"  # September: not counted for October
    )
    await import_file(conn, "qa", csv(tmp_path, "qa.csv", QA_HEADER + rows), TODAY, show_progress=False)
    policy = load_policy("unicom-2015")
    run = await agent_rating.rate_month(conn, policy, Month.parse("2026-10"))
    assert [(r.agent_id, r.previous_star, r.star, r.score_hundredths) for r in run.ratings] == [
        ("A1001", 3, 4, 8695),
        ("A1002", 2, 1, 5000),
    ]
    assert run.kept == ["A1003"] and run.effective_from == date(2026, 11, 1)
    stars = {a.id: a.star for a in await agent_rows.directory(conn, date(2026, 10, 31))}
    assert stars == {"A1001": 3, "A1002": 2, "A1003": 5}  # not before the 1st of November
    in_force = {a.id: a for a in await agent_rows.directory(conn, date(2026, 11, 1))}
    assert {k: a.star for k, a in in_force.items()} == {"A1001": 4, "A1002": 1, "A1003": 5}
    explanation = in_force["A1001"].explanation
    assert (
        explanation is not None
        and explanation["score"] == "86.95"
        and explanation["effective_from"] == "2026-11-01"
    )
    # September rated afterwards: both months are kept; November's star stays October's rating.
    await agent_rating.rate_month(conn, policy, Month.parse("2026-09"))
    history = await agent_rows.history(conn, "A1002")
    assert [(h["month"], h["star"]) for h in history] == [(date(2026, 10, 1), 1), (date(2026, 9, 1), 5)]
    assert {a.id: a.star for a in await agent_rows.directory(conn, TODAY)}["A1002"] == 1
    # Re-running October replaces October's rows, nothing else.
    await agent_rating.rate_month(conn, policy, Month.parse("2026-10"))
    assert await conn.fetchval("SELECT count(*) FROM agent_ratings") == 3


async def test_bound_tokens_need_a_known_agent(conn: asyncpg.Connection, directory: None) -> None:
    # rule A1: `tokens create --role agent --agent ID` binds the token to one agent of the directory
    token_id, token = await create_token(conn, "agent", name="desk", agent_id="A1001")
    assert await conn.fetchval("SELECT agent_id FROM api_tokens WHERE id = $1", token_id) == "A1001"
    assert token.startswith("cg_agent_")
    with pytest.raises(ValueError, match="not in the agents directory"):
        await create_token(conn, "agent", agent_id="NOBODY")
    with pytest.raises(ValueError, match="only allowed for role agent"):
        await create_token(conn, "ivr", agent_id="A1001")


async def test_the_command_line(
    database_url: str, redis_url: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    # rule A1 and rule A2: import agents and qa, rate a month, bind a token — as a user would
    await province.branches(conn)
    env = store_env(database_url, redis_url, tmp_path)
    result = callgate(["import", "agents", str(csv(tmp_path, "agents.csv", AGENTS_CSV))], env)
    assert result.returncode == 0, result.stderr
    qa = csv(tmp_path, "qa.csv", QA_HEADER + "A1001,2026-10-03,90,90,90,90,90\n")
    assert callgate(["import", "qa", str(qa)], env).returncode == 0
    rated = callgate(["agents", "rate", "--month", "2026-10"], env)
    assert rated.returncode == 0, rated.stderr
    assert "1 rated — 1 raised, 0 lowered, 0 unchanged; 2 kept their star" in rated.stdout
    assert "A1001        3 → 5  score 90.00 (1 evaluations)" in rated.stdout
    listing = callgate(["agents", "list"], env)
    assert "A1001" in listing.stdout and "5★ (rating 2026-10)" in listing.stdout
    made = callgate(["tokens", "create", "--role", "agent", "--agent", "A1001"], env)
    assert made.returncode == 0 and "agent A1001 only" in made.stdout
    token = made.stdout.strip().splitlines()[-1]
    assert (
        await conn.fetchval("SELECT agent_id FROM api_tokens WHERE token_hash = $1", hash_token(token))
        == "A1001"
    )
    refused = callgate(["tokens", "create", "--role", "agent", "--agent", "GHOST"], env)
    assert refused.returncode == 2 and "not in the agents directory" in refused.stderr
    future = callgate(["agents", "rate", "--month", "2027-01"], env)
    assert future.returncode == 2
