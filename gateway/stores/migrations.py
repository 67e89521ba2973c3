"""Numbered SQL migrations from `sql/`, each applied once in its own transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

SQL_PACKAGE = "gateway.stores.sql"  # sql/ in the checkout, package data in a wheel (pyproject)
_LOCK_ID = 0x6361_6C6C  # "call": serialises concurrent migrators (several workers starting)


class MigrationError(RuntimeError):
    """No migrations were found, one cannot be applied, or an applied one was edited afterwards."""


def _sql_dir() -> Path:
    """The directory of the shipped migrations."""
    try:
        return Path(str(resources.files(SQL_PACKAGE)))
    except ModuleNotFoundError:
        # An installation without its package data: discover() then refuses with the place it
        # looked, instead of every command (even --help) dying on an ImportError.
        return Path(__file__).resolve().parent / "sql"


SQL_DIR = _sql_dir()


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered file in sql/."""

    version: str
    path: Path
    sha256: str


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files in order (`NNN_name.sql`); raises when there are none."""
    directory = SQL_DIR if directory is None else directory
    found = []
    for path in sorted(directory.glob("*.sql")):
        prefix = path.name.split("_", 1)[0]
        if not prefix.isdigit():
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        found.append(Migration(path.stem, path, hashlib.sha256(path.read_bytes()).hexdigest()))
    if not found:
        # Applying nothing and reporting success left an empty database behind (a wheel
        # without its migrations): the first query then failed far from the cause.
        raise MigrationError(
            f"no migration files (NNN_description.sql) in {directory}: the package data "
            f"{SQL_PACKAGE} is missing from this installation; reinstall callgate"
        )
    versions = [m.version.split("_", 1)[0] for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number in {directory}")
    return found


async def pending(conn: asyncpg.Connection, directory: Path | None = None) -> list[Migration]:
    """Migrations not yet applied; raises if an applied file has changed or none are found."""
    return await _pending(conn, discover(directory))


async def _pending(conn: asyncpg.Connection, found: list[Migration]) -> list[Migration]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[str, str] = {}
    if exists:
        rows = await conn.fetch("SELECT version, sha256 FROM schema_migrations")
        applied = {r["version"]: r["sha256"] for r in rows}
    todo = []
    for migration in found:
        sha = applied.get(migration.version)
        if sha is None:
            todo.append(migration)
        elif sha != migration.sha256:
            raise MigrationError(
                f"{migration.path.name} was changed after it was applied "
                f"(applied sha256 {sha[:12]}, file {migration.sha256[:12]}); "
                "add a new migration instead of editing an applied one"
            )
    return todo


async def migrate(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; return the versions applied (idempotent).

    Raises MigrationError, before touching the database, when no migration files are found."""
    found = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   sha256 text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = []
        for migration in await _pending(conn, found):
            async with conn.transaction():
                await conn.execute(migration.path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, sha256) VALUES ($1, $2)",
                    migration.version,
                    migration.sha256,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
