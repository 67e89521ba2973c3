"""CSV import: all rows or none, every bad row reported with its row number."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from gateway.batch.importer import ImportRejected, import_file
from gateway.stores.queries import partitions
from tests.gateway.test_cli import callgate, store_env

TODAY = date(2026, 11, 26)
BRANCHES = """code,name,level,parent_code
HA,河南省分公司,province,
HA-ZZ,郑州市分公司,city,HA
HA-ZZ-ZM,中牟县分公司,county,HA-ZZ
HA-LY,洛阳市分公司,city,HA
HA-LY-YS,偃师区分公司,county,HA-LY
"""
SUB_HEADER = (
    "msisdn,service_type,network,payment_mode,plan_code,brand,status,joined_on,city_code,"
    "county_code,flags,lucky_class,contract_plan,suspensions,birthday\n"
)
SUBSCRIBERS = SUB_HEADER + (
    "18612345678,mobile,4g,postpaid,M99,gotone,active,2020-03-15,HA-ZZ,HA-ZZ-ZM,group;loyal,,,0,1980-05-06\n"
    "+8613012345678,mobile,3g,prepaid,M39,easyown,suspended,2026-05-01,HA-LY,,,3,386,2,\n"
    "037162345678,fixed,,postpaid,F59,,active,2015-01-01,HA-ZZ,,public_phone,,,,\n"
)
BILLS = """msisdn,month,billed_yuan,paid_yuan
18612345678,2026-09,312.50,312.50
18612345678,2026-10,99.99,0
13012345678,2026-10,150,150.00
"""
PAYMENTS = """msisdn,paid_at,amount_yuan
18612345678,2026-11-20T10:00:00+08:00,50.00
18612345678,2026-11-21 09:30:00,49.99
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def load_all(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await import_file(conn, "branches", write(tmp_path, "b.csv", BRANCHES), TODAY, show_progress=False)
    await import_file(conn, "subscribers", write(tmp_path, "s.csv", SUBSCRIBERS), TODAY, show_progress=False)


async def test_happy_path_loads_everything(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await load_all(conn, tmp_path)
    bills = await import_file(conn, "bills", write(tmp_path, "bills.csv", BILLS), TODAY, show_progress=False)
    payments = await import_file(
        conn, "payments", write(tmp_path, "p.csv", PAYMENTS), TODAY, show_progress=False
    )
    assert (bills.inserted, payments.inserted) == (3, 2)
    row = await conn.fetchrow("SELECT * FROM subscribers WHERE msisdn = '13012345678'")
    assert row is not None  # the +86 form was normalised to 11 digits
    assert (row["lucky_class"], row["contract_plan"], row["suspensions"]) == (3, 386, 2)
    flags = await conn.fetchval("SELECT flags FROM subscribers WHERE msisdn = '18612345678'")
    assert flags == ["group", "loyal"]
    fen = await conn.fetchval(
        "SELECT billed_fen FROM bills WHERE msisdn = '18612345678' AND month = '2026-09-01'"
    )
    assert fen == 31250  # exact fen, no float
    paid_at = await conn.fetchval("SELECT paid_at FROM payments WHERE amount_fen = 4999")
    assert paid_at.isoformat().startswith("2026-11-21T01:30:00")  # naive times are Asia/Shanghai


async def test_reimport_is_idempotent(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await load_all(conn, tmp_path)
    path = write(tmp_path, "p.csv", PAYMENTS)
    await import_file(conn, "payments", path, TODAY, show_progress=False)
    again = await import_file(conn, "payments", path, TODAY, show_progress=False)
    subs = await import_file(
        conn, "subscribers", write(tmp_path, "s2.csv", SUBSCRIBERS), TODAY, show_progress=False
    )
    assert again.inserted == 0
    assert (subs.inserted, subs.updated) == (0, 3)
    assert await conn.fetchval("SELECT count(*) FROM payments") == 2


BAD_SUBSCRIBER_ROWS = [
    (
        "18612345678,mobile,4g,postpaid,M99,gotone,active,2020-03-15,HA-ZZ,HA-ZZ-ZM",
        "expected 15 columns, found 10",
    ),
    (
        "18612345678,satellite,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,",
        "service_type 'satellite' is not one of",
    ),
    (
        "18612345678,mobile,6g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,",
        "network '6g' is not one of",
    ),
    (
        "18612345678,mobile,4g,postpaid,,,active,2020-13-15,HA-ZZ,,,,,,",
        "joined_on '2020-13-15' is not a date",
    ),
    ("18612345678,mobile,4g,postpaid,,,active,2027-01-01,HA-ZZ,,,,,,", "is in the future"),
    (
        "1861234567X,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,",
        "not a valid Chinese phone number",
    ),
    (
        "18612345678,mobile,4g,postpaid,,,active,2020-03-15,HA-XX,,,,,,",
        "city_code 'HA-XX' is not a known city",
    ),
    (
        "18612345678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,HA-LY-YS,,,,,",
        "belongs to HA-LY, not to city HA-ZZ",
    ),
    ("18612345678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,vip,,,,", "unknown flag(s) vip"),
    (
        "18612345678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,4,,,",
        "lucky_class 4 is out of range",
    ),
    (
        "18612345678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,-1,",
        "suspensions '-1' is not a whole number",
    ),
    ("037162345678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,", "needs a mobile number"),
    ("18612345678,fixed,,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,", "needs a fixed-line number"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_SUBSCRIBER_ROWS, ids=[r for _, r in BAD_SUBSCRIBER_ROWS])
async def test_a_bad_subscriber_row_rejects_the_file(
    conn: asyncpg.Connection, tmp_path: Path, row: str, reason: str
) -> None:
    await import_file(conn, "branches", write(tmp_path, "b.csv", BRANCHES), TODAY, show_progress=False)
    good = "13012345678,mobile,3g,prepaid,M39,easyown,active,2026-05-01,HA-LY,,,,,,\n"
    path = write(tmp_path, "s.csv", SUB_HEADER + good + row + "\n")
    with pytest.raises(ImportRejected) as info:
        await import_file(conn, "subscribers", path, TODAY, show_progress=False)
    assert [e.row for e in info.value.errors] == [3]
    assert reason in info.value.errors[0].reason
    assert await conn.fetchval("SELECT count(*) FROM subscribers") == 0  # nothing partial


async def test_duplicate_numbers_are_reported_with_both_rows(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await import_file(conn, "branches", write(tmp_path, "b.csv", BRANCHES), TODAY, show_progress=False)
    row = "18612345678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,\n"
    dup = "+86 186 1234 5678,mobile,4g,postpaid,,,active,2020-03-15,HA-ZZ,,,,,,\n"
    with pytest.raises(ImportRejected) as info:
        await import_file(
            conn,
            "subscribers",
            write(tmp_path, "s.csv", SUB_HEADER + row + dup),
            TODAY,
            show_progress=False,
        )
    assert str(info.value.errors[0]) == "row 3: duplicate number 18612345678 (first seen in row 2)"


@pytest.mark.parametrize(
    ("text", "row", "reason"),
    [
        pytest.param(
            "msisdn,month,billed_yuan,paid_yuan\n18612345678,2026-10,-5,0\n",
            2,
            "not negative",
            id="negative money",
        ),
        pytest.param(
            "msisdn,month,billed_yuan,paid_yuan\n18612345678,2026-10,1.234,0\n",
            2,
            "at most 2 decimals",
            id="three decimals",
        ),
        pytest.param(
            "msisdn,month,billed_yuan,paid_yuan\n18612345678,2026/10,1,0\n",
            2,
            "is not a month",
            id="bad month",
        ),
        pytest.param(
            "msisdn,month,billed_yuan,paid_yuan\n18612345678,2027-01,1,0\n",
            2,
            "in the future",
            id="future month",
        ),
        pytest.param(
            "msisdn,month,billed_yuan,paid_yuan\n13912345678,2026-10,1,0\n",
            2,
            "unknown subscriber 139****5678",
            id="unknown subscriber",
        ),
        pytest.param("msisdn,month,billed,paid\n", 1, "header must be exactly", id="wrong header"),
        pytest.param("", 1, "empty file", id="empty file"),
        pytest.param("msisdn,month,billed_yuan,paid_yuan\n", 2, "no rows after the header", id="header only"),
        pytest.param(
            "msisdn,month,billed_yuan,paid_yuan\n18612345678,2026-10,1,0\n18612345678,2026-10,2,0\n",
            3,
            "duplicate bill",
            id="duplicate month",
        ),
    ],
)
async def test_bad_bill_files_load_nothing(
    conn: asyncpg.Connection, tmp_path: Path, text: str, row: int, reason: str
) -> None:
    await load_all(conn, tmp_path)
    with pytest.raises(ImportRejected) as info:
        await import_file(conn, "bills", write(tmp_path, "bills.csv", text), TODAY, show_progress=False)
    assert info.value.errors[0].row == row
    assert reason in info.value.errors[0].reason
    assert await conn.fetchval("SELECT count(*) FROM bills") == 0


async def test_gbk_file_is_rejected_with_a_hint(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(BRANCHES.encode("gbk"))
    with pytest.raises(ImportRejected, match="GBK"):
        await import_file(conn, "branches", path, TODAY, show_progress=False)
    assert await conn.fetchval("SELECT count(*) FROM branches") == 0


async def test_branch_tree_is_checked(conn: asyncpg.Connection, tmp_path: Path) -> None:
    text = "code,name,level,parent_code\nHA,省,province,\nHA-ZZ-ZM,县,county,HA\nHA-ZZ,市,city,HA-NOPE\n"
    with pytest.raises(ImportRejected) as info:
        await import_file(conn, "branches", write(tmp_path, "b.csv", text), TODAY, show_progress=False)
    assert [str(e) for e in info.value.errors] == [
        "row 3: a county's parent must be a city, HA is a province",
        "row 4: parent_code 'HA-NOPE' is not a known branch",
    ]
    assert await conn.fetchval("SELECT count(*) FROM branches") == 0


async def test_every_bad_row_is_listed(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await load_all(conn, tmp_path)
    rows = "".join(f"18612345678,2025-{m:02d},x,0\n" for m in range(1, 8))
    with pytest.raises(ImportRejected) as info:
        await import_file(
            conn,
            "bills",
            write(tmp_path, "bills.csv", "msisdn,month,billed_yuan,paid_yuan\n" + rows),
            TODAY,
            show_progress=False,
        )
    assert [e.row for e in info.value.errors] == [2, 3, 4, 5, 6, 7, 8]
    assert "7 bad rows" in str(info.value)


async def _bill_partitions(conn: asyncpg.Connection) -> dict[str, int]:
    return {p.name: p.rows for p in await partitions.monthly(conn, "bills")}


async def test_a_new_month_becomes_its_partition_whole(conn: asyncpg.Connection, tmp_path: Path) -> None:
    # rule X5: a month with no partition yet is loaded into a table of its own and attached
    # (one foreign-key check for the month); a month already there is merged row by row
    await load_all(conn, tmp_path)
    assert "bills_2026_09" not in await _bill_partitions(conn)
    first = await import_file(conn, "bills", write(tmp_path, "b1.csv", BILLS), TODAY, show_progress=False)
    assert (first.inserted, first.updated) == (3, 0)
    made = await _bill_partitions(conn)
    assert (made["bills_2026_09"], made["bills_2026_10"]) == (1, 2)
    # analysed at once: the next evaluation plans its reads of the month with statistics
    assert await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'bills_2026_10'") == 2
    kinds = await conn.fetch(
        "SELECT conname, contype::text AS contype FROM pg_constraint WHERE conrelid = 'bills_2026_10'::regclass ORDER BY 1"
    )
    assert {k["contype"] for k in kinds} >= {"p", "f"}  # its primary key and the foreign key
    assert not [k for k in kinds if k["conname"].endswith("_bounds")]  # the attach's helper is gone
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # the attached month keeps the key
        await conn.execute(
            "INSERT INTO bills (msisdn, month, billed_fen, paid_fen) VALUES ('13999999999', '2026-10-01', 1, 1)"
        )
    # One file: a correction of a month already there and a month new to callgate.
    fix = "msisdn,month,billed_yuan,paid_yuan\n18612345678,2026-10,100.00,100.00\n18612345678,2026-08,1,1\n"
    second = await import_file(conn, "bills", write(tmp_path, "b2.csv", fix), TODAY, show_progress=False)
    assert (second.inserted, second.updated) == (1, 1)
    assert (await _bill_partitions(conn))["bills_2026_08"] == 1
    assert (
        await conn.fetchval(
            "SELECT billed_fen FROM bills WHERE msisdn = '18612345678' AND month = '2026-10-01'"
        )
        == 10000
    )
    assert await conn.fetchval("SELECT count(*) FROM bills") == 4


async def test_a_month_with_rows_in_the_default_partition_is_merged(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # rule X5: rows written before their month had a partition move into it when the import
    # makes it, and the file's rows are merged with them
    await load_all(conn, tmp_path)
    await conn.execute(
        "INSERT INTO bills (msisdn, month, billed_fen, paid_fen) VALUES ('18612345678', '2026-09-01', 5, 5)"
    )
    assert await conn.fetchval("SELECT count(*) FROM bills_default") == 1
    result = await import_file(conn, "bills", write(tmp_path, "b.csv", BILLS), TODAY, show_progress=False)
    assert (result.inserted, result.updated) == (2, 1)
    assert await conn.fetchval("SELECT count(*) FROM bills_default") == 0
    assert await conn.fetchval("SELECT billed_fen FROM bills_2026_09") == 31250


async def test_a_rejected_bills_file_makes_no_partition(conn: asyncpg.Connection, tmp_path: Path) -> None:
    # rule X5: all or nothing — a file with an unknown number leaves no month table behind
    await load_all(conn, tmp_path)
    text = BILLS + "13999999999,2026-07,1,1\n"
    with pytest.raises(ImportRejected, match="unknown subscriber"):
        await import_file(conn, "bills", write(tmp_path, "b.csv", text), TODAY, show_progress=False)
    assert await conn.fetchval("SELECT to_regclass('bills_2026_07')") is None
    assert await conn.fetchval("SELECT to_regclass('bills_2026_09')") is None


async def test_an_import_held_up_by_a_lock_says_so_and_writes_nothing(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # rule X5: attaching a new month locks the default partition, which a long read of every
    # bill month holds; past the server's lock timeout the import stops with a plain message
    # (no traceback) and leaves nothing behind, and goes through once the read is done
    await load_all(conn, tmp_path)
    env = {
        **store_env(database_url, redis_url, tmp_path),
        "CALLGATE_DATABASE_URL": database_url + "&lock_timeout=300ms",
    }
    path = write(tmp_path, "b.csv", BILLS)
    async with conn.transaction():
        await conn.execute("SELECT count(*) FROM bills")  # holds every partition, the default one too
        held = await asyncio.to_thread(callgate, ["import", "bills", str(path)], env)
    assert held.returncode == 1, (held.stdout, held.stderr)
    assert "callgate: another session holds a lock this command needs" in held.stderr
    assert "Traceback" not in held.stderr
    assert await conn.fetchval("SELECT count(*) FROM bills") == 0
    assert "bills_2026_10" not in await _bill_partitions(conn)
    done = await asyncio.to_thread(callgate, ["import", "bills", str(path)], env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert await conn.fetchval("SELECT count(*) FROM bills") == 3
