"""The baseline of benchmarks/bench_lookup.py: a bare aiohttp handler doing one Redis GET
per request and returning it as JSON — what any lookup service costs at the least."""

from __future__ import annotations

import sys

import orjson
import uvloop
from aiohttp import web
from redis.asyncio import Redis

KEY = web.AppKey("redis", Redis)


async def lookup(request: web.Request) -> web.Response:
    """One Redis GET, returned as JSON."""
    ani = request.query.get("ani", "")
    raw = await request.app[KEY].get(f"s:{{{ani}}}")
    return web.Response(
        body=orjson.dumps({"msisdn": ani, "record": raw.hex() if isinstance(raw, bytes) else None}),
        content_type="application/json",
    )


async def make_app(redis_url: str) -> web.Application:
    """The app with its Redis client."""
    app = web.Application()
    app[KEY] = Redis.from_url(redis_url)
    app.router.add_get("/v1/ivr/lookup", lookup)
    return app


def main() -> None:
    """`python benchmarks/bare_app.py REDIS_URL PORT`."""
    redis_url, port = sys.argv[1], int(sys.argv[2])
    uvloop.install()
    web.run_app(make_app(redis_url), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
