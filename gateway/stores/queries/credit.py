"""The temporary credit's ledger in PostgreSQL (R5): the latest prepaid grant of a number,
every authorisation (`credit_debits`, keyed by the charging side's `ref`) and the used
amount (`reactivations.credit_used_fen`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from gateway.stores.queries.snapshot import Conn


@dataclass(frozen=True, slots=True)
class Grant:
    """The credit of a number's latest prepaid reactivation (`id` 0: none)."""

    id: int
    limit_fen: int | None
    used_fen: int
    expires_at: datetime | None


NO_GRANT = Grant(0, None, 0, None)


@dataclass(frozen=True, slots=True)
class Debit:
    """One authorisation, approved or declined."""

    ref: str
    msisdn: str
    reactivation_id: int  # 0: no grant
    amount_fen: int
    approved: bool
    remaining_fen: int
    code: str | None
    at: datetime


class Overspend(Exception):
    """An approval PostgreSQL cannot accept: the grant's used amount would pass its limit."""

    def __init__(self, used_fen: int, limit_fen: int) -> None:
        super().__init__(f"used {used_fen} of {limit_fen}")
        self.used_fen = used_fen
        self.limit_fen = limit_fen


async def grant_of(conn: Conn, msisdn: str, *, lock: bool = False) -> Grant | None:
    """The credit of the number's latest prepaid grant; NO_GRANT for none (or a cancelled
    number); None when the number is not a subscriber."""
    status = await conn.fetchval(
        f"SELECT status FROM subscribers WHERE msisdn = $1 {'FOR UPDATE' if lock else ''}",  # noqa: S608 - constant fragment
        msisdn,
    )
    if status is None:
        return None
    if status == "cancelled":
        return NO_GRANT
    row = await conn.fetchrow(
        f"""SELECT id, credit_limit_fen, credit_used_fen, expires_at FROM reactivations
            WHERE msisdn = $1 AND mode = 'prepaid_credit'
            ORDER BY granted_at DESC, id DESC LIMIT 1 {"FOR UPDATE" if lock else ""}""",  # noqa: S608 - constant fragment
        msisdn,
    )
    if row is None:
        return NO_GRANT
    return Grant(int(row["id"]), row["credit_limit_fen"], row["credit_used_fen"], row["expires_at"])


async def recent_debits(conn: Conn, msisdn: str, since: datetime) -> list[Debit]:
    """The number's authorisations since `since` (their refs are preloaded into Redis)."""
    rows = await conn.fetch(
        """SELECT ref, msisdn, coalesce(reactivation_id, 0) AS rid, amount_fen, approved, remaining_fen,
                  code, at
           FROM credit_debits WHERE msisdn = $1 AND at >= $2""",
        msisdn,
        since,
    )
    return [_debit(r) for r in rows]


def _debit(r: asyncpg.Record) -> Debit:
    return Debit(
        r["ref"],
        r["msisdn"],
        int(r["rid"]),
        r["amount_fen"],
        r["approved"],
        r["remaining_fen"],
        r["code"],
        r["at"],
    )


async def debit_by_ref(conn: Conn, ref: str) -> Debit | None:
    """The authorisation recorded under `ref`, if any."""
    row = await conn.fetchrow(
        """SELECT ref, msisdn, coalesce(reactivation_id, 0) AS rid, amount_fen, approved, remaining_fen,
                  code, at
           FROM credit_debits WHERE ref = $1""",
        ref,
    )
    return None if row is None else _debit(row)


RecordResult = Literal["recorded", "duplicate", "foreign"]


async def record(conn: Conn, debit: Debit, *, cap: bool = False) -> RecordResult:
    """Record one authorisation and, if approved, add it to the grant's used amount.

    Idempotent per ref: `duplicate` when this number already has the ref recorded,
    `foreign` when another number has. An approval that would take the used amount past
    the limit raises `Overspend` (rolled back) — unless `cap`, for approvals already
    given (reconciliation): then it is recorded and the used amount stops at the limit.
    """
    async with conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO credit_debits (ref, reactivation_id, msisdn, amount_fen, approved, remaining_fen,
                                          code, at)
               VALUES ($1, nullif($2, 0), $3, $4, $5, $6, $7, $8)
               ON CONFLICT (ref) DO NOTHING RETURNING true""",
            debit.ref,
            debit.reactivation_id,
            debit.msisdn,
            debit.amount_fen,
            debit.approved,
            debit.remaining_fen,
            debit.code,
            debit.at,
        )
        if not inserted:
            owner = await conn.fetchval("SELECT msisdn FROM credit_debits WHERE ref = $1", debit.ref)
            return "duplicate" if owner == debit.msisdn else "foreign"
        if not debit.approved or debit.reactivation_id == 0:
            return "recorded"
        used = await conn.fetchval(
            """UPDATE reactivations SET credit_used_fen = credit_used_fen + $2
               WHERE id = $1 AND credit_used_fen + $2 <= credit_limit_fen
               RETURNING credit_used_fen""",
            debit.reactivation_id,
            debit.amount_fen,
        )
        if used is None:
            row = await conn.fetchrow(
                "SELECT credit_used_fen, credit_limit_fen FROM reactivations WHERE id = $1",
                debit.reactivation_id,
            )
            assert row is not None  # the grant the debit was approved against exists
            if not cap:
                raise Overspend(row["credit_used_fen"], row["credit_limit_fen"])
            await conn.execute(
                "UPDATE reactivations SET credit_used_fen = credit_limit_fen WHERE id = $1",
                debit.reactivation_id,
            )
    return "recorded"


async def mark_resync(conn: Conn, msisdn: str) -> None:
    """The number was debited in PostgreSQL while Redis was unreachable: its Redis state misses it."""
    await conn.execute(
        """INSERT INTO credit_resync (msisdn, at) VALUES ($1, now())
           ON CONFLICT (msisdn) DO UPDATE SET at = excluded.at""",
        msisdn,
    )


async def resync_pending(conn: Conn, limit: int = 1000) -> list[tuple[str, datetime]]:
    """Numbers debited in PostgreSQL while Redis was unreachable."""
    rows = await conn.fetch("SELECT msisdn, at FROM credit_resync ORDER BY at LIMIT $1", limit)
    return [(r["msisdn"], r["at"]) for r in rows]


async def resync_done(conn: Conn, msisdn: str, at: datetime) -> None:
    """Forget a resync (unless the number was debited in PostgreSQL again since)."""
    await conn.execute("DELETE FROM credit_resync WHERE msisdn = $1 AND at = $2", msisdn, at)
