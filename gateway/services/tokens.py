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

from gateway.stores.queries import agents, tokens, workorders

ROLES = ("ivr", "agent", "branch", "admin", "sms")  # sms: the SMS centre (P4)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, role, (for branch staff) branch and (A1, for an agent
    token bound to one agent) the agent."""

    token_id: int
    role: str
    branch_code: str | None
    name: str
    expires_at: datetime | None
    agent_id: str | None = None

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
    agent_id: str | None = None,
) -> tuple[int, str]:
    """Store a new token and return (id, token); the token is shown once, never stored.

    ``agent_id`` (role agent only, A1) binds the token to one agent of the directory."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if agent_id is not None:
        if role != "agent":
            raise ValueError("--agent is only allowed for role agent")
        if not await agents.exists(conn, agent_id):
            raise ValueError(f"agent {agent_id!r} is not in the agents directory (callgate import agents)")
    if (role == "branch") != (branch_code is not None):
        raise ValueError("--branch is required for role branch and only allowed for it")
    if branch_code is not None:
        found = await workorders.branch(conn, branch_code)
        if found is None or found.level not in ("city", "county"):
            raise ValueError(f"branch {branch_code!r} is not a known city or county branch")
    token = new_token(role)
    token_id = await tokens.insert(conn, hash_token(token), role, branch_code, name, expires_at, agent_id)
    return token_id, token
