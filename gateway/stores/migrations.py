"""Numbered SQL migrations from `sql/`, each applied once in its own transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

SQL_DIR = Path(str(resources.files("gateway.stores.sql")))  # sql/ in the checkout, package data in a wheel
_LOCK_ID = 0x6361_6C6C  # "call": serialises concurrent migrators (several workers starting)


class MigrationError(RuntimeError):
    """A migration cannot be applied, or an applied one was edited afterwards."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered file in sql/."""

    version: str
    path: Path
    sha256: str


def discover(directory: Path = SQL_DIR) -> list[Migration]:
    """The migration files in order (`NNN_name.sql`)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        prefix = path.name.split("_", 1)[0]
        if not prefix.isdigit():
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        found.append(Migration(path.stem, path, hashlib.sha256(path.read_bytes()).hexdigest()))
    versions = [m.version.split("_", 1)[0] for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number in {directory}")
    return found


async def pending(conn: asyncpg.Connection, directory: Path = SQL_DIR) -> list[Migration]:
    """Migrations not yet applied; raises if an applied file has changed."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[str, str] = {}
    if exists:
        rows = await conn.fetch("SELECT version, sha256 FROM schema_migrations")
        applied = {r["version"]: r["sha256"] for r in rows}
    todo = []
    for migration in discover(directory):
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


async def migrate(conn: asyncpg.Connection, directory: Path = SQL_DIR) -> list[str]:
    """Apply every pending migration; return the versions applied (idempotent)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   sha256 text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = []
        for migration in await pending(conn, directory):
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
