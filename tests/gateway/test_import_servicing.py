"""`callgate import passwords` (H2) and `callgate import managers` with the subscribers'
optional `manager_id`, `dnd` columns (H7): all rows or none, each bad row with its row
number and a reason that never quotes a password; the manager in the lookup after import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import bcrypt
import pytest
from argon2 import PasswordHasher

from gateway.batch.importer import ImportRejected, import_file
from gateway.http.app import create_app
from gateway.services.identity import password_matches
from gateway.settings import Settings
from tests.gateway import grants
from tests.gateway.grants import ClientFactory, Tokens, bearer
from tests.gateway.test_importer import SUB_HEADER, TODAY, load_all, write

ARGON = PasswordHasher().hash("246810")
BCRYPT = bcrypt.hashpw(b"135790", bcrypt.gensalt(rounds=4)).decode()
MANAGERS = """id,name,phone,branch_code
501,王丽,10018001,HA-ZZ
502,李强,13800000000,HA-ZZ-ZM
"""


async def rejected(conn: asyncpg.Connection, tmp_path: Path, kind: str, text: str) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        await import_file(conn, kind, write(tmp_path, f"{kind}.csv", text), TODAY, show_progress=False)
    return caught.value


async def test_password_hashes_load_and_verify(conn: asyncpg.Connection, tmp_path: Path) -> None:
    # rule H2: argon2 and bcrypt hashes, is_initial as true/false/1/0
    await load_all(conn, tmp_path)
    text = f'msisdn,password_hash,is_initial\n18612345678,"{ARGON}",true\n+8613012345678,{BCRYPT},0\n'
    result = await import_file(conn, "passwords", write(tmp_path, "p.csv", text), TODAY, show_progress=False)
    assert result.rows == 2 and result.updated == 2
    rows = {
        r["msisdn"]: r
        for r in await conn.fetch("SELECT msisdn, password_hash, password_initial FROM subscribers")
    }
    assert rows["18612345678"]["password_initial"] is True
    assert rows["13012345678"]["password_initial"] is False
    assert await password_matches(rows["18612345678"]["password_hash"], "246810")
    assert await password_matches(rows["13012345678"]["password_hash"], "135790")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param("18612345678,731246,true", "not an argon2", id="rule H2: a plain password is refused, unquoted"),
        pytest.param("18612345678,$1$abc$def,true", "not an argon2", id="rule H2: an unknown hash format is refused"),
        pytest.param(f"18612345678,\"{ARGON}\",maybe", "is_initial", id="rule H2: is_initial must be a boolean"),
        pytest.param(f"18699999999,\"{ARGON}\",false", "unknown subscriber", id="rule H2: an unknown number is refused"),
    ],
)  # fmt: skip
async def test_bad_password_rows_reject_the_file(
    conn: asyncpg.Connection, tmp_path: Path, line: str, reason: str
) -> None:
    await load_all(conn, tmp_path)
    good = f"13012345678,{BCRYPT},false"
    exc = await rejected(conn, tmp_path, "passwords", f"msisdn,password_hash,is_initial\n{good}\n{line}\n")
    assert [e.row for e in exc.errors] == [3] and reason in exc.errors[0].reason
    assert "731246" not in str(exc)  # a password in clear text is never quoted back
    assert await conn.fetchval("SELECT count(*) FROM subscribers WHERE password_hash IS NOT NULL") == 0


async def test_managers_load_and_subscribers_name_them(conn: asyncpg.Connection, tmp_path: Path) -> None:
    # rule H7
    await load_all(conn, tmp_path)
    result = await import_file(
        conn, "managers", write(tmp_path, "m.csv", MANAGERS), TODAY, show_progress=False
    )
    assert result.inserted == 2
    county = await grants.row(conn, "SELECT branch_code, city_code FROM customer_managers WHERE id = 502")
    assert (county["branch_code"], county["city_code"]) == ("HA-ZZ-ZM", "HA-ZZ")
    header = SUB_HEADER.strip() + ",manager_id,dnd\n"
    text = header + "18612345678,mobile,4g,postpaid,M99,gotone,active,2020-03-15,HA-ZZ,HA-ZZ-ZM,,,,0,,501,1\n"
    await import_file(conn, "subscribers", write(tmp_path, "s2.csv", text), TODAY, show_progress=False)
    row = await grants.row(conn, "SELECT manager_id, dnd FROM subscribers WHERE msisdn = '18612345678'")
    assert (row["manager_id"], row["dnd"]) == (501, True)
    # Re-importing the managers updates them by id; a new manager after them gets a fresh id.
    await import_file(conn, "managers", write(tmp_path, "m.csv", MANAGERS), TODAY, show_progress=False)
    fresh = await conn.fetchval(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ('x', '10018', 'HA-ZZ') RETURNING id"
    )
    assert fresh > 502


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        pytest.param("managers", "id,name,phone,branch_code\n7,王丽,10018001,XX\n", "not a known city or county", id="rule H7: an unknown branch"),
        pytest.param("managers", "id,name,phone,branch_code\n7,王丽,call-me,HA-ZZ\n", "phone", id="rule H7: a phone that is not digits"),
        pytest.param("managers", "id,name,phone,branch_code\nx,王丽,10018001,HA-ZZ\n", "id must be", id="rule H7: an id that is not a number"),
        pytest.param(
            "subscribers",
            SUB_HEADER.strip() + ",manager_id\n18612345678,mobile,4g,postpaid,M99,,active,2020-03-15,HA-ZZ,,,,,0,,999\n",
            "not a known customer manager",
            id="rule H7: a manager id that does not exist",
        ),
        pytest.param(
            "subscribers",
            SUB_HEADER.strip() + ",manager_id,dnd\n18612345678,mobile,4g,postpaid,M99,,active,2020-03-15,HA-ZZ,,,,,0,,,2\n",
            "dnd",
            id="rule H7: dnd must be 1 or 0",
        ),
    ],
)  # fmt: skip
async def test_bad_manager_rows_reject_the_file(
    conn: asyncpg.Connection, tmp_path: Path, kind: str, text: str, reason: str
) -> None:
    await load_all(conn, tmp_path)
    exc = await rejected(conn, tmp_path, kind, text)
    assert exc.errors[0].row == 2 and reason in exc.errors[0].reason, exc.errors
    assert await conn.fetchval("SELECT count(*) FROM customer_managers") == 0


async def test_the_lookup_returns_the_imported_manager(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # rule H7, rule Q3: {"id", "name", "phone"} for a level with a customer manager
    await import_file(conn, "managers", write(tmp_path, "m.csv", MANAGERS), TODAY, show_progress=False)
    await grants.customer(conn, status="active")
    await grants.customer(conn, grants.OTHER, level="silver", status="active")
    await conn.execute("UPDATE subscribers SET manager_id = 501")
    client = await aiohttp_client(create_app(settings))
    answers: list[dict[str, Any]] = []
    for number in (grants.GOLD, grants.OTHER):
        response = await client.get("/v1/ivr/lookup", params={"ani": number}, headers=bearer(tokens.ivr))
        answers.append(await response.json())
    assert answers[0]["manager"] == {"id": 501, "name": "王丽", "phone": "10018001"}
    assert answers[1]["manager"] is None  # silver has no customer manager (E)
