"""Service passwords (R9, H2–H4) as stored: the hash, whether it is the initial one, and
the bulk merge of `callgate import passwords`. Plain passwords never reach this module's
callers' logs; only hashes are stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Stored:
    """A subscriber's password as stored (the row is locked by `load`)."""

    status: str
    password_hash: str | None
    initial: bool


async def load(conn: Conn, msisdn: str) -> Stored | None:
    """Lock the subscriber row; its status and password, None for an unknown number."""
    row = await conn.fetchrow(
        "SELECT status, password_hash, password_initial FROM subscribers WHERE msisdn = $1 FOR UPDATE",
        msisdn,
    )
    return None if row is None else Stored(row["status"], row["password_hash"], row["password_initial"])


async def is_initial(conn: Conn, msisdn: str) -> bool:
    """H3: whether the number's password is the initial one."""
    return bool(await conn.fetchval("SELECT password_initial FROM subscribers WHERE msisdn = $1", msisdn))


async def upgrade_hash(conn: Conn, msisdn: str, old_hash: str, new_hash: str) -> None:
    """H2: replace a verified bcrypt hash with its argon2id re-hash (only if unchanged meanwhile)."""
    await conn.execute(
        "UPDATE subscribers SET password_hash = $3 WHERE msisdn = $1 AND password_hash = $2",
        msisdn,
        old_hash,
        new_hash,
    )


async def set_password(conn: Conn, msisdn: str, password_hash: str, at: datetime) -> None:
    """H4: a changed or reset password — not initial any more."""
    await conn.execute(
        """UPDATE subscribers SET password_hash = $2, password_initial = false, password_changed_at = $3,
               updated_at = $3 WHERE msisdn = $1""",
        msisdn,
        password_hash,
        at,
    )


async def merge_import(conn: Conn, records: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[int, str]], int]:
    """H2: COPY (row, number, hash, initial) and set them on the subscribers; returns the
    rows whose number is not a subscriber (nothing is set then: the caller rolls back) and
    the number of subscribers updated."""
    await conn.execute(
        """CREATE TEMP TABLE stage_passwords (row_no integer, msisdn text, password_hash text,
               password_initial boolean) ON COMMIT DROP"""
    )
    await conn.copy_records_to_table(
        "stage_passwords", records=records, columns=("row_no", "msisdn", "password_hash", "password_initial")
    )
    unknown = await conn.fetch(
        """SELECT p.row_no, p.msisdn FROM stage_passwords p
           WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.msisdn = p.msisdn) ORDER BY p.row_no"""
    )
    if unknown:
        return [(r["row_no"], r["msisdn"]) for r in unknown], 0
    status = await conn.execute(
        """UPDATE subscribers s SET password_hash = p.password_hash, password_initial = p.password_initial,
               updated_at = now()
           FROM stage_passwords p WHERE s.msisdn = p.msisdn"""
    )
    # The lockout counts belong to the password they were counted against.
    await conn.execute("DELETE FROM password_failures f USING stage_passwords p WHERE f.msisdn = p.msisdn")
    return [], int(status.split()[-1])
