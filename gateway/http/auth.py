"""Bearer-token authentication without a store round trip per request.

All live tokens (a small table) are held in process and reloaded every couple of
seconds, so a revocation is honoured within `REFRESH_SECONDS` and the IVR keeps
being served from memory when PostgreSQL is down. X3: `callgate tokens revoke`
also announces the revocation (PostgreSQL NOTIFY); every process listens on one pooled
connection and reloads at once, on every host, the poll being the fallback (a lost
listening connection, a NOTIFY-less connection pooler, a revocation by hand in SQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

import asyncpg
from aiohttp import web

from gateway.http.problems import ApiError
from gateway.logs import get_logger
from gateway.services.tokens import Principal, hash_token
from gateway.stores.queries import tokens

REFRESH_SECONDS = 2.0
log = get_logger("auth")


class TokenCache:
    """token hash → Principal, refreshed in the background."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.by_hash: dict[str, Principal] = {}
        self.by_header: dict[str, Principal] = {}
        self.loaded = False
        self.last_forced = 0.0
        self._announced = asyncio.Event()
        self.listening = False  # X3: revocations announced by NOTIFY reach this process

    async def refresh(self) -> None:
        """Reload every unrevoked token."""
        rows = await tokens.live(self.pool, timeout=2.0)
        self.by_hash = {
            r.token_hash: Principal(r.id, r.role, r.branch_code, r.name, r.expires_at, r.agent_id)
            for r in rows
        }
        self.by_header = {}  # revocations take effect: every header is verified again
        self.loaded = True

    async def run(self) -> None:
        """Refresh forever, every `REFRESH_SECONDS` or at once when a revocation is announced;
        keep the last good set when the database is unreachable."""
        listener = asyncio.create_task(self.listen())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._announced.wait(), REFRESH_SECONDS)
                self._announced.clear()
                try:
                    await self.refresh()
                except Exception as exc:  # the loop outlives any failed refresh (revocations must land)
                    log.warning("token_refresh_failed", error=type(exc).__name__)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def _on_revoked(self, *_: object) -> None:
        self._announced.set()

    async def listen(self) -> None:
        """X3: hold one pooled connection LISTENing for revocations; reconnect when it is lost."""
        while True:
            try:
                async with self.pool.acquire(timeout=2.0) as conn:
                    await conn.add_listener(tokens.REVOKED_CHANNEL, self._on_revoked)
                    try:
                        self.listening = True
                        self._announced.set()  # anything revoked while nobody listened is read now
                        while not conn.is_closed():
                            await asyncio.sleep(1.0)
                    finally:  # a pooled connection goes back without listeners
                        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                            await conn.remove_listener(tokens.REVOKED_CHANNEL, self._on_revoked)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.info("token_listen_failed", error=type(exc).__name__)
            finally:
                self.listening = False
            await asyncio.sleep(REFRESH_SECONDS)

    async def principal_after_refresh(
        self, header: str | None, now: datetime, refused: ApiError
    ) -> Principal:
        """The caller of a request `principal` refused: a token not yet seen triggers one early
        reload (at most twice a second), so a token created a moment ago works at once;
        otherwise `refused` stands."""
        if not header or time.monotonic() - self.last_forced < 0.5:
            raise refused
        self.last_forced = time.monotonic()
        with contextlib.suppress(TimeoutError, OSError, asyncpg.PostgresError):
            await self.refresh()  # the store is down: answer with what we know
        return self.principal(header, now)

    def principal(self, header: str | None, now: datetime) -> Principal:
        """The caller of a request, or 401."""
        if not header or not header.startswith("Bearer "):
            raise ApiError(
                401, "unauthorized", "send a bearer token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="callgate"'},
            )  # fmt: skip
        found = self.by_header.get(header)
        if found is None:
            token = header[7:].strip()
            # Tokens are printable ASCII; anything else (raw bytes arrive as lone surrogates) is
            # simply not one of ours — and must not reach the hash's encoder.
            if token.isascii() and token.isprintable():
                found = self.by_hash.get(hash_token(token))
            if found is not None and len(self.by_header) < 10_000:
                self.by_header[header] = found  # verified once; dropped at the next refresh
        if found is None or (found.expires_at is not None and found.expires_at <= now):
            raise ApiError(
                401, "unauthorized", "the token is unknown, revoked or expired",
                headers={"WWW-Authenticate": 'Bearer realm="callgate", error="invalid_token"'},
            )  # fmt: skip
        return found


PRINCIPAL = web.RequestKey("principal", Principal)


class RequestView(Protocol):
    """What admission, the role check and the lookup read of a request: aiohttp's request,
    or the lookup lane's `lane.RawRequest`."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    def __getitem__(self, key: web.RequestKey[Principal]) -> Principal: ...
    def __setitem__(self, key: web.RequestKey[Principal], value: Principal) -> None: ...


def require(request: RequestView, *roles: str) -> Principal:
    """The request's principal when its role is one of `roles` (admin always passes), else 403."""
    principal = request[PRINCIPAL]
    if principal.role != "admin" and principal.role not in roles:
        raise ApiError(
            403,
            "forbidden",
            f"role {principal.role} may not call this; allowed: {', '.join(roles)}",
        )
    return principal


def require_agent(
    request: web.Request, agent_id: str, *, registered: bool, machines: tuple[str, ...] = ()
) -> Principal:
    """A1: the request's principal when it may act for agent ``agent_id``, else 403.

    - a token bound to an agent (``tokens create --role agent --agent ID``): that agent only;
    - an unbound agent token (every token made before agents were imported): only for an id
      that is not in the agents directory (``registered`` False) — the free-form ids of the
      screen pop before agents existed; a registered agent's events, calls and state need
      that agent's own token;
    - the roles in ``machines`` (the ACD's ``ivr`` token for state and next) and admin: any agent.
    """
    principal = request[PRINCIPAL]
    if principal.role == "admin" or principal.role in machines:
        return principal
    if principal.role != "agent":
        allowed = ", ".join(("agent (own)", *machines))
        raise ApiError(403, "forbidden", f"role {principal.role} may not call this; allowed: {allowed}")
    if principal.agent_id is not None:
        if principal.agent_id != agent_id:
            raise ApiError(
                403, "forbidden", "this token belongs to another agent; it reaches only its own agent"
            )
        return principal
    if registered:
        raise ApiError(
            403,
            "forbidden",
            "this agent is in the agents directory: use a token bound to it "
            "(callgate tokens create --role agent --agent ID)",
        )
    return principal
