"""The floor of benchmarks/bench_lookup.py: a bare aiohttp handler under uvloop doing one
Redis read per request with the same pipelined hiredis client callgate's lookup uses
(`gateway.stores.fastredis.PipelinedRedis`), returning the record as JSON — what any
lookup service costs at the least on this machine, with the same Redis client. The read
is the one callgate makes: since records are kept in hash buckets, an HGET of the number's
bucket and field (`record.key_of`), one command as a GET was."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import orjson
import uvloop
from aiohttp import web

from gateway.stores.fastredis import PipelinedRedis
from gateway.stores.record import key_of

KEY = web.AppKey("redis", PipelinedRedis)


async def lookup(request: web.Request) -> web.Response:
    """One Redis read of the subscriber's record, returned as JSON."""
    ani = request.query.get("ani", "")
    bucket, field = key_of(ani)
    raw = await request.app[KEY].get(bucket, 0.5, field)
    return web.Response(
        body=orjson.dumps({"msisdn": ani, "record": raw.hex() if isinstance(raw, bytes) else None}),
        content_type="application/json",
    )


def make_app(redis_url: str) -> web.Application:
    """The app with its Redis client (two pipelined connections, as the lookup opens)."""
    app = web.Application()

    async def client(app: web.Application) -> AsyncIterator[None]:
        app[KEY] = PipelinedRedis(redis_url, connections=2)
        yield
        await app[KEY].close()

    app.cleanup_ctx.append(client)
    app.router.add_get("/v1/ivr/lookup", lookup)
    return app


def main() -> None:
    """`python benchmarks/bare_app.py REDIS_URL PORT`."""
    redis_url, port = sys.argv[1], int(sys.argv[2])
    uvloop.install()
    web.run_app(make_app(redis_url), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
