"""The hotline-servicing imports (H2, H7): `callgate import passwords` and `callgate import
managers`, and the subscribers file's optional trailing `manager_id`, `dnd` columns —
row validation and loading, registered in `gateway.batch.importer`.

A bad row rejects the whole file with its row number and reason, as for every import. A
password cell is never quoted back: it may be a plain password where a hash belongs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from entitlements.servicing import hash_format
from gateway.stores.queries import managers as manager_queries
from gateway.stores.queries import passwords as password_queries
from gateway.stores.queries.snapshot import Conn

PASSWORD_COLUMNS = ("msisdn", "password_hash", "is_initial")
MANAGER_COLUMNS = ("id", "name", "phone", "branch_code")
#: H7: optional trailing columns of the subscribers file (either none, manager_id, or both).
SUBSCRIBER_EXTRA = ("manager_id", "dnd")
_PHONE = re.compile(r"^[0-9]{5,12}$")
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


class BadRow(ValueError):
    """One row's reason for rejecting the file."""


def boolean(value: str, name: str) -> bool:
    """`true`/`false`/`1`/`0` (H2, H7)."""
    found = _BOOLEAN.get(value.strip().lower())
    if found is None:
        raise BadRow(f"{name} must be true, false, 1 or 0")
    return found


def password_hash(value: str) -> str:
    """H2: an argon2 or bcrypt hash; anything else (a plain password too) is refused unquoted."""
    if value == "":
        raise BadRow("password_hash is required")
    if hash_format(value) is None:
        raise BadRow(
            "password_hash is not an argon2 ($argon2id$, $argon2i$) or bcrypt ($2a$, $2b$, $2y$) hash "
            "(a plain password is never accepted)"
        )
    return value


def manager_row(
    values: list[str], branches: dict[str, tuple[str, str | None]]
) -> tuple[int, str, str, str, str]:
    """H7: (id, name, phone, branch_code, city_code) of one managers row."""
    raw_id, name, phone, branch = values
    if not raw_id.isdigit() or not 1 <= int(raw_id) <= 2**62:
        raise BadRow("id must be a positive whole number")
    if name == "":
        raise BadRow("name is required")
    if not _PHONE.match(phone):
        raise BadRow("phone must be 5–12 digits")
    found = branches.get(branch)
    if found is None or found[0] not in ("city", "county"):
        raise BadRow(f"branch_code {branch!r} is not a known city or county branch")
    city = branch if found[0] == "city" else found[1]
    assert city is not None  # a county always has its city
    return int(raw_id), name, phone, branch, city


def manager_id(value: str, known: set[int]) -> int | None:
    """H7: a subscriber's manager (empty: none); the manager must exist (import managers first)."""
    if value == "":
        return None
    if not value.isdigit():
        raise BadRow("manager_id must be a whole number")
    if int(value) not in known:
        raise BadRow(f"manager_id {value} is not a known customer manager (import managers first)")
    return int(value)


async def load_passwords(conn: Conn, records: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[int, str]], int]:
    """H2: set the hashes; (rows whose number is not a subscriber, subscribers updated)."""
    return await password_queries.merge_import(conn, records)


async def load_managers(conn: Conn, records: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """H7: upsert the managers by id; (inserted, updated)."""
    return await manager_queries.merge_import(conn, records)


async def known_managers(conn: Conn) -> set[int]:
    """The ids of the managers already imported."""
    return {m.id for m in await manager_queries.every_manager(conn, timeout=30.0)}
