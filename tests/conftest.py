"""Shared fixtures: real PostgreSQL and Redis started once per session, a fresh
database per test (CREATE DATABASE … TEMPLATE), Redis flushed per test, and every
log line of the run captured to a file that is scanned for raw phone numbers."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer
from aiohttp.web_runner import BaseRunner
from redis.asyncio import Redis

from gateway.http.server import EdgeRunner
from gateway.logs import configure_logging
from gateway.settings import Settings
from gateway.stores import migrations
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
# Separate directories let several test sessions run side by side (each its own stores).
TEST_DIR = Path(os.environ.get("CALLGATE_TEST_DIR") or ROOT / "var" / "test").resolve()
LOG_FILE = TEST_DIR / "logs" / "test-run.jsonl"
TEMPLATE = "callgate_template"
FIXED_NOW = datetime.fromisoformat("2026-11-26T10:00:00+08:00")
_RAW_NUMBER = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
# Secrets and personal data the tests use, which must never reach a log line either:
# the demo service passwords (and the H2–H4 tests' plain ones), argon2 and bcrypt hashes,
# password/birthday fields, a test birthday, bearer tokens (`cg_<role>_<secret>`). The plain
# passwords count only as whole numbers not after a dot: a log line's timestamp has six digits
# of microseconds, which are 246810 once in a million lines.
_NEVER_LOGGED = re.compile(
    r"(?<![0-9.])(?:246810|135790|802468|135792|731246)(?![0-9])|\$argon2|\$2[aby]\$"
    r'|"[a-z_]*password[a-z_]*"\s*:|"birthday"\s*:|1980-05-06|cg_[a-z]+_[A-Za-z0-9_-]{20,}'
)


def _ascii_digits(line: str) -> str:
    """A line with digits of every script as ASCII: a number in Arabic-Indic digits is still a number."""
    if line.isascii():
        return line
    return re.sub(r"\d", lambda m: str(unicodedata.decimal(m.group())), line)


_db_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    """Send every log line of the run to one file (scanned at the end)."""
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    handle = LOG_FILE.open("w", encoding="utf-8")
    config.stash[_log_handle] = handle
    _session_log.append(handle)
    configure_logging("debug", handle, cache=False)


_log_handle = pytest.StashKey[object]()
_session_log: list[TextIO] = []


def restore_logging() -> None:
    """Send logging back to the session's log file (after a test sent it elsewhere)."""
    configure_logging("debug", _session_log[-1], cache=False)


def log_leaks(lines: list[str]) -> list[str]:
    """The log lines that hold a raw phone number, a token, a password or a birthday, each
    shortened to the 200 characters around what was found (marked with »…«)."""
    out = []
    for line in lines:
        found = _RAW_NUMBER.search(_ascii_digits(line)) or _NEVER_LOGGED.search(line)
        if found is not None:
            start, end = found.span()
            out.append(
                f"{line[max(0, start - 100) : start]}»{line[start:end]}«{line[end : end + 100]}".strip()
            )
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any captured log line holds a raw phone number (any script) or a secret."""
    handle = session.config.stash.get(_log_handle, None)
    if handle is not None:
        handle.flush()  # type: ignore[attr-defined]  # a text file opened above
    if not LOG_FILE.exists():
        return
    leaks = log_leaks(LOG_FILE.read_text(encoding="utf-8", errors="replace").split("\n"))
    if leaks:
        print(
            f"\nRAW PHONE NUMBERS, TOKENS, PASSWORDS OR BIRTHDAYS IN LOGS ({len(leaks)} lines), first: {leaks[0]}"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL for the session, with a migrated template database."""
    server = EmbeddedPostgres(TEST_DIR / "postgres", durable=False)
    server.start()

    async def make_template() -> None:
        conn = await asyncpg.connect(server.dsn("postgres"))
        try:
            for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'test_%'"):
                await conn.execute(f'DROP DATABASE IF EXISTS "{row[0]}" WITH (FORCE)')
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        tconn = await asyncpg.connect(server.dsn(TEMPLATE))
        try:
            await migrations.migrate(tconn)
        finally:
            await tconn.close()

    asyncio.run(make_template())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One real Redis for the session."""
    server = EmbeddedRedis(TEST_DIR / "redis", durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def database_url(pg_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    name = f"test_{next(_db_counter)}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
    finally:
        await admin.close()
    yield pg_server.dsn(name)
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def redis_url(redis_server: EmbeddedRedis) -> AsyncIterator[str]:
    """The session Redis, emptied for this test."""
    client = Redis.from_url(redis_server.url())
    await client.flushall()
    await client.aclose()
    yield redis_server.url()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at this test's stores, with the clock pinned."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        now=FIXED_NOW,
    )


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this test's database."""
    from gateway.stores import db

    connection = await db.connect(database_url)
    yield connection
    await connection.close()


class EdgeTestServer(TestServer):
    """An app served the way `callgate serve` serves it: through `EdgeRunner` (the edge's
    answers to unparsable requests and the lookup's lane), on a free port."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return EdgeRunner(self.app, **kwargs)


@pytest_asyncio.fixture
async def aiohttp_client() -> AsyncIterator[Callable[..., Awaitable[TestClient[Any, Any]]]]:
    """pytest-aiohttp's client factory, with an application served by `EdgeTestServer`: every
    HTTP test goes through the edge that production runs, lookup lane included."""
    clients: list[TestClient[Any, Any]] = []

    async def go(
        served: web.Application | BaseTestServer,
        *,
        server_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TestClient[Any, Any]:
        server = (
            EdgeTestServer(served, **(server_kwargs or {})) if isinstance(served, web.Application) else served
        )
        client: TestClient[Any, Any] = TestClient(server, **kwargs)
        await client.start_server()
        clients.append(client)
        return client

    yield go
    while clients:
        await clients.pop().close()
