"""`callgate notify` against a real HTTP SMS gateway that fails, hangs or holds a request
on demand: each message is committed as it goes, so a failure or a cut-short run loses
nothing and sends nothing twice, and two senders at once share the outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from aiohttp import web

from gateway.services import notify
from gateway.stores import db


@dataclass
class SmsGateway:
    """What the gateway accepted, and how it misbehaves."""

    url: str = ""
    received: list[int] = field(default_factory=list)  # ids of accepted messages, in order
    refuse_after: int | None = None  # accept this many, then answer 503
    hang_after: int | None = None  # accept this many, then never answer (nor accept) again
    hanging: asyncio.Event = field(default_factory=asyncio.Event)
    hold_first: asyncio.Event | None = None  # the first request waits for this, then is accepted
    held: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def gateway() -> AsyncIterator[SmsGateway]:
    """A real HTTP server standing in for the operator's SMS gateway."""
    state = SmsGateway()
    requests = [0]

    async def accept(request: web.Request) -> web.Response:
        requests[0] += 1
        if state.hold_first is not None and requests[0] == 1:
            state.held.set()
            await state.hold_first.wait()
        elif state.hang_after is not None and len(state.received) >= state.hang_after:
            state.hanging.set()
            await asyncio.Event().wait()  # until the server shuts down
        elif state.refuse_after is not None and len(state.received) >= state.refuse_after:
            return web.Response(status=503)
        state.received.append(int((await request.json())["id"]))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", accept)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started TCP site
    state.url = f"http://127.0.0.1:{port}/sms"
    yield state
    await runner.cleanup()


async def outbox(conn: asyncpg.Connection, count: int) -> list[int]:
    """`count` pending messages (one per number); their ids."""
    rows = await conn.fetch(
        """INSERT INTO notifications (msisdn, kind, month, body)
           SELECT '1861234' || lpad(i::text, 4, '0'), 'tier', '2026-11-01', '您的星级'
           FROM generate_series(1, $1) AS i RETURNING id""",
        count,
    )
    return sorted(r["id"] for r in rows)


async def statuses(conn: asyncpg.Connection) -> dict[int, tuple[str, int]]:
    """id → (status, attempts)."""
    rows = await conn.fetch("SELECT id, status, attempts FROM notifications")
    return {r["id"]: (r["status"], r["attempts"]) for r in rows}


async def test_a_gateway_failing_mid_run_loses_nothing_and_sends_nothing_twice(
    conn: asyncpg.Connection, gateway: SmsGateway
) -> None:
    ids = await outbox(conn, 12)
    gateway.refuse_after = 5
    summary = await notify.deliver(conn, gateway.url, backoff=0.0)
    assert (summary.sent, summary.retried, summary.failed, summary.pending) == (5, 7, 0, 7)
    state = await statuses(conn)
    assert gateway.received == ids[:5]
    assert all(state[i] == ("sent", 1) for i in ids[:5])
    assert all(state[i] == ("pending", 1) for i in ids[5:])  # to be tried again, not lost

    gateway.refuse_after = None
    summary = await notify.deliver(conn, gateway.url, backoff=0.0)
    assert (summary.sent, summary.pending) == (7, 0)
    assert gateway.received == ids  # each message exactly once, in id order


async def test_a_run_cut_short_keeps_what_it_sent(
    conn: asyncpg.Connection, gateway: SmsGateway, database_url: str
) -> None:
    """The sender dies while the gateway hangs on the sixth message: the five it took are
    recorded as sent, and the next run sends only the rest."""
    ids = await outbox(conn, 12)
    gateway.hang_after = 5
    run = asyncio.create_task(notify.deliver(conn, gateway.url, backoff=0.0, timeout=60))
    await asyncio.wait_for(gateway.hanging.wait(), 30)
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
    state = await statuses(conn)
    assert [i for i in ids if state[i][0] == "sent"] == gateway.received == ids[:5]

    gateway.hang_after = None
    other = await db.connect(database_url)
    try:
        summary = await notify.deliver(other, gateway.url, backoff=0.0)
    finally:
        await other.close()
    assert summary.sent == 7
    assert Counter(gateway.received) == Counter(ids)  # nothing twice, nothing missing


async def test_a_second_sender_is_not_held_up_by_the_first_ones_message_in_flight(
    conn: asyncpg.Connection, gateway: SmsGateway, database_url: str
) -> None:
    """Only the message being sent is locked: while the gateway holds the first sender's
    message, a second sender delivers all the others; nothing is sent twice."""
    ids = await outbox(conn, 20)
    gateway.hold_first = asyncio.Event()
    first = asyncio.create_task(notify.deliver(conn, gateway.url, backoff=0.0))
    await asyncio.wait_for(gateway.held.wait(), 30)
    other = await db.connect(database_url)
    try:
        second = await notify.deliver(other, gateway.url, backoff=0.0)
    finally:
        await other.close()
    gateway.hold_first.set()
    summary = await first
    assert (summary.sent, second.sent) == (1, 19)
    assert Counter(gateway.received) == Counter(ids)
    assert set((await statuses(conn)).values()) == {("sent", 1)}


async def test_two_senders_racing_send_each_message_exactly_once(
    conn: asyncpg.Connection, gateway: SmsGateway, database_url: str
) -> None:
    ids = await outbox(conn, 60)
    other = await db.connect(database_url)
    try:
        a, b = await asyncio.gather(
            notify.deliver(conn, gateway.url, backoff=0.0), notify.deliver(other, gateway.url, backoff=0.0)
        )
    finally:
        await other.close()
    assert a.sent + b.sent == 60
    assert Counter(gateway.received) == Counter(ids)


async def test_a_limit_stops_the_run_after_that_many_messages(
    conn: asyncpg.Connection, gateway: SmsGateway
) -> None:
    ids = await outbox(conn, 12)
    summary = await notify.deliver(conn, gateway.url, limit=3)
    assert (summary.sent, summary.pending) == (3, 9)
    assert gateway.received == ids[:3]


async def test_a_gateway_that_is_down_ends_the_run_early(
    conn: asyncpg.Connection, gateway: SmsGateway
) -> None:
    ids = await outbox(conn, 30)
    gateway.refuse_after = 0
    summary = await notify.deliver(conn, gateway.url, backoff=0.0)
    tried = notify.GIVE_UP_AFTER
    assert (summary.sent, summary.retried, summary.pending) == (0, tried, 30)
    state = await statuses(conn)
    assert [state[i][1] for i in ids] == [1] * tried + [0] * (30 - tried)  # the rest left for the next run
