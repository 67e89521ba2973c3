"""PostgreSQL connection pool with codecs (jsonb via orjson)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # binary jsonb: a version byte, then the text


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary format so that COPY (binary) can carry jsonb columns too.
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20, **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections decode jsonb to Python objects."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"timezone": "Asia/Shanghai", "application_name": "callgate"},
        **kwargs,
    )
    assert pool is not None  # create_pool returns the pool once awaited
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection (CLI commands) with the same codecs as the pool."""
    conn = await asyncpg.connect(
        dsn, server_settings={"timezone": "Asia/Shanghai", "application_name": "callgate-cli"}
    )
    await _init_connection(conn)
    return conn
