"""`callgate serve`: stores, migrations, first-run demo data, then the HTTP service."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from entitlements.months import shanghai_today
from gateway import db, demo, migrations
from gateway.app import create_app
from gateway.logs import get_logger
from gateway.settings import Settings
from gateway.stores import start_stores

log = get_logger("serve")


class StartupRefused(RuntimeError):
    """The service must not start in this state."""


async def prepare(settings: Settings, demo_subscribers: int | None, *, production: bool) -> bool:
    """Migrate; load the demo province on an empty embedded database. True if demo data was loaded."""
    assert settings.database_url is not None
    conn = await db.connect(settings.database_url)
    try:
        applied = await migrations.migrate(conn)
        if applied:
            log.info("migrated", applied=applied)
        if production:
            demo_tokens = await conn.fetchval(
                "SELECT count(*) FROM api_tokens WHERE demo AND revoked_at IS NULL"
            )
            if demo_tokens:
                raise StartupRefused(
                    f"production mode (store URLs set) refuses to start while {demo_tokens} demo "
                    "token(s) are live: revoke them with `callgate tokens revoke ID`"
                )
            return False
        if demo_subscribers is None:
            return False
        if await conn.fetchval("SELECT count(*) FROM subscribers"):
            return False
        print(
            f"first run: loading a demo province of {demo_subscribers:,} subscribers …",
            file=sys.stderr,
        )
        await demo.load(conn, demo_subscribers, 2015, shanghai_today(settings.clock()))
        return True
    finally:
        await conn.close()


def serve(settings: Settings, *, workers: int = 1, demo_subscribers: int | None = None) -> int:
    """Run until SIGINT/SIGTERM; stop the embedded stores on the way out."""
    stores = start_stores(settings)
    try:
        resolved = stores.settings
        try:
            loaded = asyncio.run(prepare(resolved, demo_subscribers, production=settings.production))
        except StartupRefused as exc:
            print(f"callgate: {exc}", file=sys.stderr)
            return 1
        _banner(resolved, loaded, production=settings.production)
        web.run_app(
            create_app(resolved),
            host=resolved.host,
            port=resolved.port,
            print=None,
            access_log=None,
            handle_signals=True,
            shutdown_timeout=5.0,
        )
        return 0
    finally:
        stores.stop()


def _banner(settings: Settings, loaded: bool, *, production: bool) -> None:
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"callgate serving on {url}  (agent page {url}/agent/, Ctrl-C to stop)"]
    if not production:
        lines.append(f"embedded stores under {settings.data_dir.resolve()}")
        lines.append("demo tokens:")
        lines.extend(f"  {role:<6} {branch or '':<9} {token}" for token, role, branch in demo.DEMO_TOKENS)
        if loaded:
            lines.append("demo province loaded")
    print("\n".join(lines), file=sys.stderr, flush=True)
