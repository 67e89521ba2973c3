"""Bearer tokens: 256-bit random secrets, stored only as SHA-256 hashes.

A high-entropy random token needs no slow password hash: SHA-256 of it cannot be
brute-forced, and it lets a request be checked with one dictionary lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.stores.queries import tokens, workorders

ROLES = ("ivr", "agent", "branch", "admin", "sms")  # sms: the SMS centre (P4)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, role and (for branch staff) branch."""

    token_id: int
    role: str
    branch_code: str | None
    name: str
    expires_at: datetime | None

    @property
    def actor(self) -> str:
        """A stable actor label for audit and work-order events."""
        return f"{self.role}:{self.token_id}" + (f"@{self.branch_code}" if self.branch_code else "")


def new_token(role: str) -> str:
    """A fresh random token; the prefix says its role to a human reading logs of config."""
    return f"cg_{role}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """The stored form of a token (any text hashes: lone surrogates from raw header bytes too)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def create_token(
    conn: asyncpg.Connection,
    role: str,
    branch_code: str | None = None,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """Store a new token and return (id, token); the token is shown once, never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role == "branch") != (branch_code is not None):
        raise ValueError("--branch is required for role branch and only allowed for it")
    if branch_code is not None:
        found = await workorders.branch(conn, branch_code)
        if found is None or found.level not in ("city", "county"):
            raise ValueError(f"branch {branch_code!r} is not a known city or county branch")
    token = new_token(role)
    token_id = await tokens.insert(conn, hash_token(token), role, branch_code, name, expires_at)
    return token_id, token
