"""Hypothesis over the CSV importer: random bytes, wrong encodings, huge fields and
broken quoting always end in a clear rejection and nothing loaded (never a crash)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
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
            for table in ("branches", "subscribers", "bills", "payments", "agents", "qa_evaluations"):
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0  # noqa: S608 - constant names
        finally:
            await conn.close()

    asyncio.run(run())
