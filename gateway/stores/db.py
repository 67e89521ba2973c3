"""PostgreSQL connection pool with codecs (json and jsonb via orjson)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # binary jsonb: a version byte, then the text


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


def _decode_json(data: bytes) -> Any:
    return orjson.loads(data)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary format so that COPY (binary) can carry jsonb columns too.
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(  # binary json is the text itself
        "json", encoder=orjson.dumps, decoder=_decode_json, schema="pg_catalog", format="binary"
    )


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    warm: Sequence[tuple[str, tuple[Any, ...]]] = (),
    **kwargs: Any,
) -> asyncpg.Pool:
    """A pool whose connections decode jsonb to Python objects.

    `warm` statements run once on every new connection, so the hot path never pays for
    planning a statement or opening a connection on a caller's time.
    """

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        for sql, args in warm:
            await conn.fetch(sql, *args)

    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init,
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
