"""Hypothesis over the CSV importer: random bytes, wrong encodings, huge fields and
broken quoting always end in a clear rejection and nothing loaded (never a crash)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.batch.importer import COLUMNS, ImportRejected, import_file
from gateway.stores import db

TODAY = date(2026, 11, 26)
GOOD_ROW = {
    "branches": "HA,省,province,",
    "subscribers": "18612345678,mobile,4g,postpaid,M99,,active,2020-03-15,HA-ZZ,,,,,0,",
    "bills": "18612345678,2026-10,10,10",
    "payments": "18612345678,2026-11-20T10:00:00+08:00,5",
    "points": "18612345678,2026-11-20,500,bill,2027-12-31",
    "passwords": "18612345678,$2b$04$" + "a" * 53 + ",true",  # H2
    "managers": "501,王丽,10018001,HA-ZZ",  # H7
    "agents": "A1001,王丽,HA-ZZ,vip,3",
    "qa": "A1001,2026-11-03,90,90,90,90,90",
}


def files() -> st.SearchStrategy[tuple[str, bytes]]:
    kinds = st.sampled_from(sorted(COLUMNS))
    noise = st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.text(alphabet='河南省市县,"\n\r;0123456789-', max_size=200).map(lambda t: t.encode("gb18030")),
        st.integers(1001, 5000).map(lambda n: b"x" * n),
    )

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, bytes]:
        kind = draw(kinds)
        header = ",".join(COLUMNS[kind]).encode()
        body = draw(noise)
        shape = draw(st.sampled_from(["raw", "after_header", "huge_field", "unterminated_quote"]))
        if shape == "raw":
            return kind, body
        if shape == "after_header":
            return kind, header + b"\n" + body
        if shape == "huge_field":
            cells = GOOD_ROW[kind].split(",")
            cells[0] = "9" * draw(st.integers(1001, 20_000))
            return kind, header + b"\n" + ",".join(cells).encode()
        return kind, header + b'\n"' + body.replace(b'"', b"")

    return build()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=files())
def test_bad_files_are_rejected_with_nothing_loaded(database_url: str, case: tuple[str, bytes]) -> None:
    kind, content = case

    async def run() -> None:
        conn = await db.connect(database_url)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{kind}.csv"
                path.write_bytes(content)
                try:
                    await import_file(conn, kind, path, TODAY, show_progress=False)
                except ImportRejected as exc:
                    assert exc.errors and all(e.row >= 1 and e.reason for e in exc.errors)
                    assert "nothing loaded" in str(exc)
                else:  # only a file that is valid by chance may load (an empty header-only file is refused)
                    raise AssertionError(f"{kind}: random content was accepted: {content[:80]!r}")
            for table in (
                "branches",
                "subscribers",
                "bills",
                "payments",
                "points_grants",
                "points_accounts",
                "customer_managers",
                "agents",
                "qa_evaluations",
            ):
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0  # noqa: S608 - constant names
        finally:
            await conn.close()

    asyncio.run(run())


POINTS_HEADER = "msisdn,granted_on,points,source,expires_on"


@st.composite
def points_rows(draw: st.DrawFn) -> tuple[str, str | None]:
    """A points row with one field broken (or none): (row, the reason it must be refused)."""
    granted = draw(st.dates(date(2024, 1, 1), TODAY))
    cells = {
        "msisdn": "18612345678",
        "granted_on": granted.isoformat(),
        "points": str(draw(st.integers(1, 10_000_000))),
        "source": draw(st.sampled_from(["bill", "promo", "积分活动"])),
        "expires_on": draw(
            st.sampled_from(["", (granted + timedelta(days=draw(st.integers(0, 800)))).isoformat()])
        ),
    }
    fault = draw(st.sampled_from([None, "points", "expires_on", "granted_on", "msisdn", "source"]))
    reason = None
    if fault == "points":
        cells["points"] = draw(
            st.sampled_from(["0", "-1", str(-draw(st.integers(1, 10**9))), "1.5", "x", "10000001"])
        )
        reason = "points"
    elif fault == "expires_on":
        cells["expires_on"] = (granted - timedelta(days=draw(st.integers(1, 400)))).isoformat()
        reason = "is before granted_on"
    elif fault == "granted_on":
        cells["granted_on"] = draw(st.sampled_from(["2026-13-01", "yesterday", "", "2027-01-01"]))
        reason = "granted_on"
    elif fault == "msisdn":
        cells["msisdn"] = draw(st.sampled_from(["18699990000", "123", ""]))
        reason = "msisdn" if cells["msisdn"] != "18699990000" else "unknown subscriber"
    elif fault == "source":
        cells["source"] = draw(st.sampled_from(["", "s" * 65]))
        reason = "source"
    return ",".join(cells.values()), reason


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(points_rows(), min_size=1, max_size=6, unique_by=lambda r: r[0]))
def test_points_files_load_only_when_every_row_is_good(
    database_url: str, rows: list[tuple[str, str | None]]
) -> None:
    # rule P1: a bad row (points not positive, expiry before the grant, an unknown number, …)
    # rejects the file with its row number and reason; nothing is loaded
    async def run() -> None:
        conn = await db.connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO branches VALUES ('HA', '省', 'province', NULL)")
                await conn.execute("INSERT INTO branches VALUES ('HA-ZZ', '市', 'city', 'HA')")
                await conn.execute(
                    """INSERT INTO subscribers (msisdn, service_type, network, payment_mode, status, joined_on,
                                                city_code) VALUES ('18612345678', 'mobile', '4g', 'postpaid',
                                                'active', '2020-01-01', 'HA-ZZ')"""
                )
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "points.csv"
                    path.write_text(
                        "\n".join([POINTS_HEADER, *(r for r, _ in rows)]) + "\n", encoding="utf-8"
                    )
                    bad = [(i + 2, reason) for i, (_, reason) in enumerate(rows) if reason is not None]
                    # numbers are checked against the subscribers once every row is valid
                    bad.sort(key=lambda b: (b[1] == "unknown subscriber", b[0]))
                    try:
                        await import_file(conn, "points", path, TODAY, show_progress=False)
                    except ImportRejected as exc:
                        assert bad, f"a good file was refused: {exc}"
                        assert exc.errors[0].row == bad[0][0]
                        assert bad[0][1] in exc.errors[0].reason
                        assert await conn.fetchval("SELECT count(*) FROM points_grants") == 0
                    else:
                        assert not bad, f"a bad row was accepted: {bad}"
                        assert await conn.fetchval("SELECT count(*) FROM points_grants") == len(rows)
                raise _Rollback
        except _Rollback:
            pass
        finally:
            await conn.close()

    asyncio.run(run())


class _Rollback(Exception):
    """Leaves the example's rows behind in no other example."""
