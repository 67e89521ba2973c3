"""P4: text messages to 10011 through POST /v1/sms/inbound, answered through the SMS outbox
and `callgate notify` to a real HTTP SMS sink; replays, bad input, the sms role."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.http.app import create_app
from gateway.logs import configure_logging
from gateway.services import notify
from gateway.services.tokens import create_token
from gateway.settings import Settings
from tests.conftest import restore_logging
from tests.gateway import grants
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens, bearer
from tests.gateway.points_support import import_points

TODAY = date(2026, 11, 26)


@dataclass
class SmsSink:
    """A real HTTP server standing in for the operator's SMS gateway: what it was sent."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def sink() -> AsyncIterator[SmsSink]:
    """The SMS gateway `callgate notify` posts to."""
    state = SmsSink()

    async def accept(request: web.Request) -> web.Response:
        state.received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", accept)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started TCP site
    state.url = f"http://127.0.0.1:{port}/sms"
    yield state
    await runner.cleanup()


def sms_token(settings: Settings) -> str:
    """`callgate tokens create --role sms`, as an operator runs it: the token is the last line."""
    env = {
        **os.environ,
        "CALLGATE_DATABASE_URL": settings.database_url or "",
        "CALLGATE_REDIS_URL": settings.redis_url or "",
        "CALLGATE_DATA_DIR": str(settings.data_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "tokens", "create", "--role", "sms", "--name", "SMSC"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
async def smsc(conn: asyncpg.Connection) -> str:
    """A token of the sms role (the CLI path is tested once, above)."""
    return (await create_token(conn, "sms", name="SMSC"))[1]


async def inbound(client: TestClient[Any, Any], token: str, body: Any) -> tuple[int, dict[str, Any], bool]:
    """POST /v1/sms/inbound; (status, JSON, whether it was a replay)."""
    response = await client.post("/v1/sms/inbound", json=body, headers=bearer(token))
    return response.status, await response.json(content_type=None), "Idempotent-Replayed" in response.headers


def message(msg_id: str, text: str, sender: str = GOLD, to: str = "10011") -> dict[str, str]:
    return {"id": msg_id, "from": sender, "to": to, "text": text}


@contextlib.contextmanager
def logged() -> Iterator[io.StringIO]:
    """Log lines to a buffer for the block, then back to the session's log file."""
    stream = io.StringIO()
    configure_logging("debug", stream, cache=False)
    try:
        yield stream
    finally:
        restore_logging()


async def test_jfcx_gets_the_balance_by_sms_once_per_message(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    tmp_path: Path,
    sink: SmsSink,
) -> None:
    # rule P4: JFCX (any case, spaces ignored) to 10011 → an SMS with the balance, the
    # redeemable points and the next expiry, in Chinese, through the outbox and
    # `callgate notify`; a replay of the message id sends nothing new
    await grants.customer(conn, status="active")
    assert settings.redis_url is not None
    await import_points(
        conn, settings.redis_url, tmp_path,
        [f"{GOLD},2026-01-05,1200,bill,2026-12-31", f"{GOLD},2026-03-05,1000,bill,2027-12-31"], TODAY,
    )  # fmt: skip
    token = sms_token(settings)
    client = await aiohttp_client(create_app(settings))
    with logged() as lines:
        status, body, replayed = await inbound(
            client, token, message("smsc-1", " jf cx ", sender=f"+86 {GOLD}")
        )
    assert (status, body, replayed) == (202, {"id": "smsc-1", "reply": "points"}, False)
    events = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert {"event": "sms_inbound", "sender": "186****6001"}.items() <= next(
        e for e in events if e["event"] == "sms_inbound"
    ).items()
    assert GOLD not in lines.getvalue()

    summary = await notify.deliver(conn, sink.url)
    assert summary.sent == 1
    assert sink.received == [
        {
            "id": sink.received[0]["id"],
            "to": GOLD,
            "text": "【中国联通】尊敬的客户：截至2026年11月26日，您的积分余额为2200分，可兑换积分2200分；"
            "其中1200分将于2026年12月31日到期。详询10010。",
        }
    ]
    # the SMS centre retries the same message: the first answer, nothing new sent
    status, body, replayed = await inbound(client, token, message("smsc-1", " jf cx ", sender=f"+86 {GOLD}"))
    assert (status, body, replayed) == (202, {"id": "smsc-1", "reply": "points"}, True)
    assert (await notify.deliver(conn, sink.url)).sent == 0
    assert len(sink.received) == 1
    # a second query the same month is a new message: answered again
    second = await inbound(client, token, message("smsc-2", "JFCX"))
    assert second[1].get("reply") == "points", second
    assert (await notify.deliver(conn, sink.url)).sent == 1


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        pytest.param("积分", "help", id="any other text gets the help reply"),
        pytest.param("", "help", id="an empty text gets the help reply"),
        pytest.param(None, "help", id="no text at all gets the help reply"),
        pytest.param("ＪＦＣＸ", "points", id="full-width letters are the keyword too"),
    ],
)  # fmt: skip
async def test_other_texts_get_help(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    smsc: str,
    sink: SmsSink,
    text: str | None,
    reply: str,
) -> None:
    # rule P4: anything but JFCX → a short help reply (a customer without points: balance 0)
    await grants.customer(conn, status="active")
    client = await aiohttp_client(create_app(settings))
    body: dict[str, Any] = {"id": "m-1", "from": GOLD, "to": "10011"}
    if text is not None:
        body["text"] = text
    status, answer, _ = await inbound(client, smsc, body)
    assert (status, answer["reply"]) == (202, reply)
    await notify.deliver(conn, sink.url)
    sent = sink.received[0]["text"]
    if reply == "help":
        assert sent == "【中国联通】积分查询请发送JFCX到10011。详询10010。"
    else:
        assert "积分余额为0分" in sent


@pytest.mark.parametrize(
    ("body", "status", "code", "where"),
    [
        pytest.param(message("m", "JFCX", sender="18699990000"), 404, "unknown_subscriber", None, id="a sender who is not ours"),
        pytest.param(message("m", "JFCX", sender="1234"), 400, "invalid_number", "from", id="a sender that is no number"),
        pytest.param(message("m", "JFCX", to="10010"), 400, "invalid_request", "to", id="a wrong short code"),
        pytest.param(message("m", "J" * 10_000), 400, "invalid_request", "text", id="a 10 kB text"),
        pytest.param(message("", "JFCX"), 400, "invalid_request", "id", id="no message id"),
        pytest.param({**message("m", "JFCX"), "text": 7}, 400, "invalid_request", "text", id="a text that is no string"),
        pytest.param([1, 2], 400, "invalid_request", None, id="a body that is no object"),
    ],
)  # fmt: skip
async def test_bad_messages_are_a_clear_4xx_and_send_nothing(
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    tokens: Tokens,
    smsc: str,
    body: Any,
    status: int,
    code: str,
    where: str | None,
) -> None:
    # rule P4: never a 5xx; nothing is queued, nothing is kept
    await grants.customer(conn, status="active")
    await grants.customer(conn, OTHER, status="cancelled")
    client = await aiohttp_client(create_app(settings))
    got, problem, _ = await inbound(client, smsc, body)
    assert (got, problem["code"]) == (status, code)
    if where is not None:
        assert problem["field"] == where
    assert "18699990000" not in json.dumps(problem)
    assert await conn.fetchval("SELECT count(*) FROM notifications") == 0
    assert await conn.fetchval("SELECT count(*) FROM sms_inbound") == 0


async def test_a_cancelled_sender_is_a_stranger_and_a_reused_id_with_another_text_is_refused(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens, smsc: str
) -> None:
    # rule P4: replays match by id; the same id with another text is a conflict (409)
    await grants.customer(conn, status="active")
    await grants.customer(conn, OTHER, status="cancelled")
    client = await aiohttp_client(create_app(settings))
    token = smsc
    assert (await inbound(client, token, message("x", "JFCX", sender=OTHER)))[0] == 404
    assert (await inbound(client, token, message("y", "JFCX")))[0] == 202
    got, problem, _ = await inbound(client, token, message("y", "HELP"))
    assert (got, problem["code"]) == (409, "invalid_request")
    assert await conn.fetchval("SELECT count(*) FROM notifications") == 1


async def test_only_the_sms_role_posts_inbound_messages(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens, smsc: str
) -> None:
    # rule P4: a token role of its own; the SMS centre's token calls nothing else
    await grants.customer(conn, status="active")
    client = await aiohttp_client(create_app(settings))
    token = smsc
    assert (await inbound(client, tokens.agent, message("a", "JFCX")))[0] == 403
    assert (await inbound(client, tokens.ivr, message("b", "JFCX")))[0] == 403
    response = await client.get("/v1/ivr/lookup", params={"ani": GOLD}, headers=bearer(token))
    assert response.status == 403
    assert await conn.fetchval("SELECT role FROM api_tokens WHERE name = 'SMSC'") == "sms"
