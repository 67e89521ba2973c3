"""The queue engine over HTTP against the real PostgreSQL and Redis (SPEC §9 A1, A3, A4)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.http.app import create_app
from gateway.http.keys import LOOKUP, QUEUE
from gateway.settings import Settings
from gateway.stores import queuestore
from tests.gateway.lookup_support import FIVE, FOUR, ONE
from tests.gateway.queue_support import Desk, add_agents, call, queue_desk

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
T0 = "2026-11-26T09:59:00+08:00"  # a minute before the pinned clock


def at(clock: str) -> str:
    """An ACD time on the pinned day: "09:59:20" → ISO with +08:00."""
    return f"2026-11-26T{clock}+08:00"


@pytest.fixture
async def desk(conn: asyncpg.Connection, database_url: str) -> Desk:
    return await queue_desk(conn, database_url)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, desk: Desk) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))


async def enqueue(
    client: TestClient[Any, Any], desk: Desk, call_id: str, ani: str, when: str
) -> dict[str, Any]:
    status, body = await call(
        client, "POST", "/v1/queue/calls", desk.ivr, {"call_id": call_id, "ani": ani, "enqueued_at": when}
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def available(client: TestClient[Any, Any], desk: Desk, agent: str, when: str = T0) -> None:
    status, body = await call(
        client, "PUT", f"/v1/agents/{agent}/state", desk.ivr, {"state": "available", "at": when}
    )
    assert status == 200, body


async def test_lookup_answer_carries_the_skill(client: TestClient[Any, Any], desk: Desk) -> None:
    # rule A3: the lookup answer gains "skill": {"desk", "min_agent_star", "relax"}
    status, five = await call(client, "GET", f"/v1/ivr/lookup?ani={FIVE}", desk.ivr)
    assert status == 200
    assert five["skill"] == {"desk": "vip", "min_agent_star": 4, "relax": [[20, 3], [40, 1]]}
    _, one = await call(client, "GET", f"/v1/ivr/lookup?ani={ONE}", desk.ivr)
    assert one["skill"] == {"desk": "general", "min_agent_star": 1, "relax": []}
    _, unknown = await call(client, "GET", "/v1/ivr/lookup?ani=anonymous", desk.ivr)
    assert unknown["skill"] == {"desk": "general", "min_agent_star": 1, "relax": []}
    response = await client.get(
        f"/v1/ivr/lookup?ani={FIVE}&format=kv", headers={"Authorization": f"Bearer {desk.ivr}"}
    )
    lines = dict(line.split("=", 1) for line in (await response.text()).splitlines())
    assert (lines["skill.desk"], lines["skill.min_agent_star"], lines["skill.relax"]) == (
        "vip",
        "4",
        "20:3,40:1",
    )


async def test_enqueue_takes_the_lookups_desk_and_a_replay_answers_the_same(
    client: TestClient[Any, Any], desk: Desk
) -> None:
    # rule A4: 201 {call_id, desk, priority, min_agent_star, position, expected_wait_s}; the replay
    first = await enqueue(client, desk, "c-five", FIVE, at("09:59:00"))
    assert {k: first[k] for k in ("call_id", "desk", "priority", "min_agent_star", "position", "degraded")} == {
        "call_id": "c-five", "desk": "vip", "priority": 30, "min_agent_star": 4, "position": 1, "degraded": False,
    }  # fmt: skip
    four = await enqueue(client, desk, "c-four", FOUR, at("09:59:05"))
    assert (four["desk"], four["priority"], four["min_agent_star"], four["position"]) == ("vip", 20, 3, 2)
    general = await enqueue(client, desk, "c-one", ONE, at("09:59:06"))
    assert (general["desk"], general["priority"], general["position"]) == ("general", 0, 1)
    # A five-star caller arriving later still goes ahead of the four-star one (30 s head start vs 20 s).
    later = await enqueue(client, desk, "c-five-2", FIVE, at("09:59:10"))
    assert later["position"] == 2
    again = await enqueue(client, desk, "c-five", FIVE, at("09:59:30"))  # the ACD retried
    assert again == first
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    assert (stats["desks"]["vip"]["waiting"], stats["desks"]["general"]["waiting"]) == (3, 1)
    assert stats["desks"]["vip"]["longest_wait_s"] == 60.0  # c-five, since 09:59:00


async def test_concurrent_duplicates_of_an_enqueue_queue_the_call_once(
    client: TestClient[Any, Any], desk: Desk
) -> None:
    # rule A4: the ACD retrying while its first request is still under way — one call, one answer
    body = {"call_id": "dup", "ani": FIVE, "enqueued_at": at("09:59:00")}
    results = await asyncio.gather(
        *(call(client, "POST", "/v1/queue/calls", desk.ivr, body) for _ in range(8))
    )
    assert {status for status, _ in results} == {201}
    assert all(answer == results[0][1] for _, answer in results)
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    assert stats["desks"]["vip"]["waiting"] == 1


async def test_a_claim_left_by_a_failed_enqueue_is_taken_over_once_it_expires(
    aiohttp_client: ClientFactory, settings: Settings, desk: Desk, redis_url: str
) -> None:
    # rule A4: an enqueue that died after claiming the call id leaves PENDING behind; a retry
    # waits for it, and when the claim expires within the retry's budget the retry queues the call
    # (a budget of 500 ms against a claim of 100 ms: room for a slow machine)
    client = await aiohttp_client(create_app(replace(settings, lookup_budget_ms=500)))
    redis = Redis.from_url(redis_url)
    try:
        await redis.set(queuestore.pointer_key("orphan"), queuestore.PENDING, px=100)
    finally:
        await redis.aclose()
    body = await enqueue(client, desk, "orphan", FOUR, at("09:59:00"))
    assert (body["desk"], body["position"]) == ("vip", 1)
    again = await enqueue(client, desk, "orphan", FOUR, at("09:59:00"))  # now a replay
    assert again == body


async def test_a_lookup_that_fails_still_queues_on_the_general_desk(
    client: TestClient[Any, Any], desk: Desk
) -> None:
    # rule A4 and rule Q4: PostgreSQL unavailable and no cached record → the default route, degraded
    lookup = client.app[LOOKUP]
    lookup.pg_breaker.open = True  # PostgreSQL counts as down for the lookup (its breaker is open)
    try:
        body = await enqueue(client, desk, "c-degraded", FIVE, at("09:59:00"))
    finally:
        lookup.pg_breaker.open = False
    assert (body["desk"], body["priority"], body["min_agent_star"], body["degraded"]) == (
        "general",
        0,
        1,
        True,
    )


async def test_a_free_agent_takes_the_best_call_it_may(client: TestClient[Any, Any], desk: Desk) -> None:
    # rule A4 (score, desks, atomic busy) and rule A3 (star requirement, relaxation at 20 s)
    await enqueue(client, desk, "c-five", FIVE, at("09:59:50"))  # needs 4 stars until 10:00:10
    await enqueue(client, desk, "c-one", ONE, at("09:59:40"))  # general, priority 0
    for agent in ("A3", "G1"):
        await available(client, desk, agent)
    # The three-star agent may not take the fresh five-star call; it takes the general one.
    status, taken = await call(client, "POST", "/v1/agents/A3/next", desk.ivr, {"at": at("10:00:00")})
    assert status == 200 and taken["call_id"] == "c-one" and taken["waited_s"] == 20.0
    assert taken["ani"] == ONE and taken["desk"] == "general"
    # The general-only agent never gets the VIP call.
    status, _ = await call(client, "POST", "/v1/agents/G1/next", desk.ivr, {"at": at("10:00:30")})
    assert status == 204
    # A3 is busy now: a second next is refused until it is available again.
    status, problem = await call(client, "POST", "/v1/agents/A3/next", desk.ivr, {"at": at("10:00:05")})
    assert (status, problem["code"], problem["state"]) == (409, "agent_not_available", "busy")
    await available(client, desk, "A3", at("10:00:06"))
    status, _ = await call(client, "POST", "/v1/agents/A3/next", desk.ivr, {"at": at("10:00:09")})
    assert status == 204  # 19 s waited: still four stars needed
    status, taken = await call(client, "POST", "/v1/agents/A3/next", desk.ivr, {"at": at("10:00:10")})
    assert status == 200 and taken["call_id"] == "c-five"
    assert (taken["min_agent_star"], taken["required_star"], taken["waited_s"]) == (4, 3, 20.0)
    _, view = await call(client, "GET", "/v1/agents/A3", desk.bound["A3"])
    assert (view["state"], view["call_id"], view["desk"]) == ("busy", "c-five", "vip")


async def test_outcomes_move_the_call_and_the_agent(client: TestClient[Any, Any], desk: Desk) -> None:
    # rule A4: answered / abandoned / completed with the ACD's times; each counted once
    await enqueue(client, desk, "c1", FOUR, at("09:59:00"))
    await available(client, desk, "A4")
    _, taken = await call(client, "POST", "/v1/agents/A4/next", desk.ivr, {"at": at("09:59:10")})
    assert taken["call_id"] == "c1"
    path = "/v1/queue/calls/c1/events"
    status, problem = await call(client, "POST", path, desk.ivr, {"kind": "completed", "at": at("09:59:11")})
    assert (status, problem["code"]) == (409, "invalid_transition")
    status, answered = await call(client, "POST", path, desk.ivr, {"kind": "answered", "at": at("09:59:12")})
    assert status == 200 and answered["waited_s"] == 12.0 and answered["agent_id"] == "A4"
    status, again = await call(client, "POST", path, desk.ivr, {"kind": "answered", "at": at("09:59:13")})
    assert status == 200 and again["replay"] is True
    status, problem = await call(client, "POST", path, desk.ivr, {"kind": "abandoned", "at": at("09:59:14")})
    assert (status, problem["code"]) == (409, "invalid_transition")
    status, _ = await call(client, "POST", path, desk.ivr, {"kind": "completed", "at": at("09:59:50")})
    assert status == 200
    _, view = await call(client, "GET", "/v1/agents/A4", desk.bound["A4"])
    assert view["state"] == "wrap_up"  # after the talk: after-call work
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    window = stats["desks"]["vip"]["window"]
    assert (window["offered"], window["answered"], window["answered_within"]) == (1, 1, 1)  # once
    status, problem = await call(
        client, "POST", "/v1/queue/calls/nope/events", desk.ivr, {"kind": "answered"}
    )
    assert (status, problem["code"]) == (404, "unknown_call")


async def test_an_abandoned_assigned_call_frees_its_agent(client: TestClient[Any, Any], desk: Desk) -> None:
    # rule A4: the caller hung up while ringing the agent: the agent is available again
    await enqueue(client, desk, "c1", ONE, at("09:59:00"))
    await available(client, desk, "G1")
    await call(client, "POST", "/v1/agents/G1/next", desk.ivr, {"at": at("09:59:02")})
    status, _ = await call(
        client, "POST", "/v1/queue/calls/c1/events", desk.ivr, {"kind": "abandoned", "at": at("09:59:04")}
    )
    assert status == 200
    _, view = await call(client, "GET", "/v1/agents/G1", desk.ivr)
    assert (view["state"], view["call_id"]) == ("available", None)
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    agents = stats["desks"]["general"]["agents"]
    assert (agents["available"], agents["busy"], agents["staffed"]) == (1, 0, 1)


async def test_exactly_once_under_200_concurrent_next(
    client: TestClient[Any, Any], desk: Desk, conn: asyncpg.Connection
) -> None:
    # rule A4 (SPEC §7): 200 concurrent `next` on 100 waiting calls → 100 assignments, no call
    # twice, no agent twice; the other 100 get 204
    agents = [f"X{i:03d}" for i in range(200)]
    await add_agents(conn, [(a, ("vip", "general"), 5) for a in agents])
    calls = [f"k{i:03d}" for i in range(100)]
    for i, call_id in enumerate(calls):
        await enqueue(
            client, desk, call_id, [FIVE, FOUR, ONE][i % 3], f"2026-11-26T09:5{i // 60}:{i % 60:02d}+08:00"
        )
    await asyncio.gather(*(available(client, desk, a) for a in agents))
    results = await asyncio.gather(
        *(call(client, "POST", f"/v1/agents/{a}/next", desk.ivr, {"at": at("10:00:00")}) for a in agents)
    )
    taken = [(a, body["call_id"]) for a, (status, body) in zip(agents, results, strict=True) if status == 200]
    assert sorted(status for status, _ in results) == [200] * 100 + [204] * 100, [
        b for s, b in results if s == 503
    ][:3]
    assert len({c for _, c in taken}) == 100 and {c for _, c in taken} == set(calls)
    assert len({a for a, _ in taken}) == 100
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    assert stats["desks"]["vip"]["waiting"] + stats["desks"]["general"]["waiting"] == 0
    assert stats["desks"]["vip"]["agents"]["busy"] == 100


async def test_exactly_once_across_two_workers(
    aiohttp_client: ClientFactory,
    client: TestClient[Any, Any],
    settings: Settings,
    desk: Desk,
    conn: asyncpg.Connection,
) -> None:
    # rule A4: the choice is atomic in Redis, not in one process — with `serve --workers 2`
    # the ACD's calls, agents and `next` land on either worker: 120 concurrent `next` on 60
    # calls, alternating between two apps → 60 assignments, no call or agent twice
    other = await aiohttp_client(create_app(settings))  # a second worker on the same stores
    workers = (client, other)
    agents = [f"W{i:03d}" for i in range(120)]
    await add_agents(conn, [(a, ("vip", "general"), 5) for a in agents])
    calls = [f"w{i:03d}" for i in range(60)]
    for i, call_id in enumerate(calls):
        await enqueue(workers[i % 2], desk, call_id, [FIVE, FOUR, ONE][i % 3], at(f"09:59:{i:02d}"))
    await asyncio.gather(*(available(workers[i % 2], desk, a) for i, a in enumerate(agents)))
    results = await asyncio.gather(
        *(
            call(workers[i % 2], "POST", f"/v1/agents/{a}/next", desk.ivr, {"at": at("10:00:00")})
            for i, a in enumerate(agents)
        )
    )
    taken = [(a, body["call_id"]) for a, (status, body) in zip(agents, results, strict=True) if status == 200]
    assert sorted(status for status, _ in results) == [200] * 60 + [204] * 60
    assert {c for _, c in taken} == set(calls) and len({a for a, _ in taken}) == 60
    # each outcome on the worker that did not queue the call: it finds the call in Redis
    answers = await asyncio.gather(
        *(
            call(
                workers[(i + 1) % 2],
                "POST",
                f"/v1/queue/calls/{c}/events",
                desk.ivr,
                {"kind": "answered", "at": at("10:00:05")},
            )
            for i, c in enumerate(calls)
        )
    )
    assert [status for status, _ in answers] == [200] * 60
    assert {body["agent_id"] for _, body in answers} == {a for a, _ in taken}
    for worker in (other, client):  # each worker's reads settle its own bookkeeping first
        _, stats = await call(worker, "GET", "/v1/queue/stats", desk.ivr)
    vip, general = stats["desks"]["vip"], stats["desks"]["general"]
    assert vip["waiting"] + general["waiting"] == 0
    assert vip["window"]["offered"] + general["window"]["offered"] == 60
    assert vip["window"]["answered"] + general["window"]["answered"] == 60
    assert (vip["agents"]["busy"], vip["agents"]["available"]) == (60, 60)


async def test_agent_tokens_reach_only_their_own_agent(client: TestClient[Any, Any], desk: Desk) -> None:
    # rule A1: a bound token reaches only its own agent's events, calls, state and next → 403 `forbidden`
    own, other = desk.bound["A4"], desk.bound["A3"]
    assert (await call(client, "GET", "/v1/agents/A4", own))[0] == 200
    assert (await call(client, "PUT", "/v1/agents/A4/state", own, {"state": "available"}))[0] == 200
    assert (await call(client, "POST", "/v1/agents/A4/next", own))[0] == 204
    assert (await call(client, "GET", "/v1/agents/A4/calls", own))[0] == 200
    stream = await client.get("/v1/agents/A4/events", headers={"Authorization": f"Bearer {own}"})
    assert stream.status == 200
    stream.close()
    for method, path, body in (
        ("GET", "/v1/agents/A4", None),
        ("PUT", "/v1/agents/A4/state", {"state": "away"}),
        ("POST", "/v1/agents/A4/next", None),
        ("GET", "/v1/agents/A4/calls", None),
        ("GET", "/v1/agents/A4/events", None),
    ):
        status, problem = await call(client, method, path, other, body)
        assert (status, problem["code"]) == (403, "forbidden"), path
    # The ACD acts for any agent's state and next; admin too.
    assert (await call(client, "PUT", "/v1/agents/A4/state", desk.ivr, {"state": "away"}))[0] == 200
    assert (await call(client, "GET", "/v1/agents/A4", desk.admin))[0] == 200
    status, problem = await call(client, "PUT", "/v1/agents/NOBODY/state", desk.ivr, {"state": "away"})
    assert (status, problem["code"]) == (404, "unknown_agent")


async def test_unbound_agent_tokens_no_longer_open_a_registered_agents_stream(
    client: TestClient[Any, Any], desk: Desk, conn: asyncpg.Connection
) -> None:
    # rule A1: the open event-stream hole is closed — an agent token made before agents existed
    # (unbound) may not read a registered agent's events, calls or state; free-form screen-pop
    # ids that are no agent of the directory keep working as before
    unbound = desk.agent
    for path in ("/v1/agents/A4/events", "/v1/agents/A4/calls", "/v1/agents/A4"):
        status, problem = await call(client, "GET", path, unbound)
        assert (status, problem["code"]) == (403, "forbidden"), path
    for method, path in (("PUT", "/v1/agents/A4/state"), ("POST", "/v1/agents/A4/next")):
        assert (await call(client, method, path, unbound, {"state": "available"}))[0] == 403
    legacy = await client.get("/v1/agents/DESK-7/events", headers={"Authorization": f"Bearer {unbound}"})
    assert legacy.status == 200
    legacy.close()
    # An agent imported after the server started is protected at once.
    await add_agents(conn, [("DESK-8", ("general",), 2)])
    status, problem = await call(client, "GET", "/v1/agents/DESK-8/events", unbound)
    assert (status, problem["code"]) == (403, "forbidden")


async def test_queue_unavailable_when_redis_does_not_answer(
    aiohttp_client: ClientFactory, settings: Settings, desk: Desk, redis_url: str
) -> None:
    # rule A4: Redis unreachable → 503 `queue_unavailable` (inside the lookup budget), so the
    # ACD falls back to its own queue; the lookup itself still answers (Q4)
    from tests.gateway.redis_proxy import RedisProxy

    proxy = RedisProxy(redis_url)
    url = await proxy.start()
    client = await aiohttp_client(create_app(replace(settings, redis_url=url)))
    try:
        assert (await call(client, "PUT", "/v1/agents/A4/state", desk.ivr, {"state": "available"}))[0] == 200
        proxy.mode = "swallow"  # connections stay open, nothing comes back
        for method, path, body in (
            ("POST", "/v1/queue/calls", {"call_id": "c-down", "ani": FIVE}),
            ("POST", "/v1/agents/A4/next", {}),
            ("PUT", "/v1/agents/A4/state", {"state": "away"}),
            ("POST", "/v1/queue/calls/c-down/events", {"kind": "abandoned"}),
            ("GET", "/v1/queue/stats", None),
        ):
            status, problem = await call(client, method, path, desk.ivr, body)
            assert (status, problem["code"]) == (503, "queue_unavailable"), path
        status, answer = await call(client, "GET", f"/v1/ivr/lookup?ani={FIVE}", desk.ivr)
        assert status == 200 and answer["queue"]["name"] == "vip"  # from PostgreSQL
    finally:
        await proxy.close()


async def test_scripted_statistics_for_the_window_and_the_interval(
    aiohttp_client: ClientFactory, settings: Settings, desk: Desk, conn: asyncpg.Connection
) -> None:
    # rule A4 and rule Q5: calls with the ACD's timestamps — answered at 5 s, 19 s and 21 s,
    # abandoned at 3 s (short) and 30 s in the current interval (10:00–10:15), one more answered
    # at 8 s in the interval before (inside the 30-minute window); the clock reads 10:07:00
    now = datetime.fromisoformat("2026-11-26T10:07:00+08:00")
    client = await aiohttp_client(create_app(replace(settings, now=now)))
    script = [
        ("s1", FIVE, "10:01:00", "answered", "10:01:05"),
        ("s2", FOUR, "10:02:00", "answered", "10:02:19"),
        ("s3", FIVE, "10:03:00", "answered", "10:03:21"),
        ("s4", FOUR, "10:04:00", "abandoned", "10:04:03"),
        ("s5", FIVE, "10:05:00", "abandoned", "10:05:30"),
        ("s0", FIVE, "09:50:00", "answered", "09:50:08"),
    ]
    for call_id, ani, enqueued, kind, when in script:
        await enqueue(client, desk, call_id, ani, at(enqueued))
        status, _ = await call(
            client, "POST", f"/v1/queue/calls/{call_id}/events", desk.ivr, {"kind": kind, "at": at(when)}
        )
        assert status == 200
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    assert (stats["threshold_s"], stats["short_abandon_s"], stats["target"]) == (20, 5, 0.85)  # echoed
    vip = stats["desks"]["vip"]
    assert vip["interval"] | {"starts_at": None, "ends_at": None} == {
        "offered": 5, "answered": 3, "abandoned": 2, "short_abandoned": 1, "answered_within": 2,
        "service_level": 0.5, "service_level_answered": 2 / 3, "asa_s": 15.0, "abandon_rate": 0.4,
        "meets_target": False, "starts_at": None, "ends_at": None,
    }  # fmt: skip
    assert vip["interval"]["starts_at"] == "2026-11-26T02:00:00.000Z"
    window = vip["window"]
    assert (window["offered"], window["answered"], window["answered_within"], window["short_abandoned"]) == (
        6,
        4,
        3,
        1,
    )
    assert window["service_level"] == 3 / 5 and window["asa_s"] == (5 + 19 + 21 + 8) / 4
    assert stats["desks"]["general"]["window"]["service_level"] is None  # nothing offered there

    # Finished intervals reach PostgreSQL (upserts: flushing twice changes nothing) …
    service = client.app[QUEUE]
    later = datetime.fromisoformat("2026-11-26T10:16:00+08:00")
    assert await service.flush_intervals(later) == 2
    assert await service.flush_intervals(later) == 2
    rows = await conn.fetch(
        "SELECT desk, starts_at, offered, answered_within, short_abandoned FROM queue_intervals ORDER BY starts_at"
    )
    assert [
        (r["desk"], r["starts_at"], r["offered"], r["answered_within"], r["short_abandoned"]) for r in rows
    ] == [
        ("vip", datetime.fromisoformat("2026-11-26T09:45:00+08:00"), 1, 1, 0),
        ("vip", datetime.fromisoformat("2026-11-26T10:00:00+08:00"), 5, 2, 1),
    ]
    # … and read back by range.
    status, history = await call(
        client,
        "GET",
        "/v1/queue/stats/history?from=2026-11-26T10:00:00%2B08:00&to=2026-11-26T10:15:00%2B08:00",
        desk.agent,
    )
    assert status == 200
    assert [(i["desk"], i["offered"], i["service_level"]) for i in history["items"]] == [("vip", 5, 0.5)]


async def test_state_changes_of_one_moment_reach_every_desk_in_order(
    client: TestClient[Any, Any], desk: Desk
) -> None:
    # rule A4/A5: the changes of a moment are mirrored together (one script per desk), in the
    # order of their times: an agent changing twice ends in its later state, on each desk it serves
    changes = [
        ("A4", "available", "09:59:01"),
        ("A3", "available", "09:59:01"),
        ("G1", "available", "09:59:01"),
        ("A4", "away", "09:59:02"),
        ("G1", "wrap_up", "09:59:03"),
    ]
    replies = await asyncio.gather(  # at once: mirrored in the same batch, whatever order they land in
        *(
            call(client, "PUT", f"/v1/agents/{agent}/state", desk.ivr, {"state": state, "at": at(when)})
            for agent, state, when in changes
        )
    )
    assert [status for status, _ in replies] == [200] * len(changes)
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    vip, general = stats["desks"]["vip"]["agents"], stats["desks"]["general"]["agents"]
    assert (vip["available"], vip["away"], vip["wrap_up"], vip["staffed"]) == (1, 1, 0, 2)  # G1: not VIP
    assert (general["available"], general["away"], general["wrap_up"], general["staffed"]) == (1, 1, 1, 3)
    status, body = await call(client, "PUT", "/v1/agents/A4/state", desk.ivr, {"state": "offline"})
    assert status == 200, body
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    vip, general = stats["desks"]["vip"]["agents"], stats["desks"]["general"]["agents"]
    assert (vip["staffed"], general["away"], general["staffed"]) == (1, 0, 2)


async def test_a_desk_view_that_is_not_a_state_is_replaced_not_fatal(
    client: TestClient[Any, Any], desk: Desk, redis_url: str
) -> None:
    # rule A4/A5: a value in a desk's view of agents that is not "<since>:<state>" counts as
    # absent; the other changes mirrored with it still land
    redis = Redis.from_url(redis_url)
    try:
        await redis.hset(f"{queuestore.desk_prefix('vip')}:agents", "A4", "garbage")
    finally:
        await redis.aclose()
    replies = await asyncio.gather(
        *(
            call(client, "PUT", f"/v1/agents/{agent}/state", desk.ivr, {"state": "available", "at": T0})
            for agent in ("A4", "A3")
        )
    )
    assert [status for status, _ in replies] == [200, 200]
    _, stats = await call(client, "GET", "/v1/queue/stats", desk.ivr)
    assert stats["desks"]["vip"]["agents"]["available"] == 2


async def test_the_gauges_carry_the_figures(client: TestClient[Any, Any], desk: Desk) -> None:
    # rule A5: Prometheus gauges with the wallboard's figures
    await enqueue(client, desk, "g1", FIVE, at("09:59:00"))
    await call(
        client, "POST", "/v1/queue/calls/g1/events", desk.ivr, {"kind": "answered", "at": at("09:59:10")}
    )
    await call(client, "GET", "/v1/queue/stats", desk.ivr)
    text = await (await client.get("/metrics")).text()
    assert 'callgate_queue_service_level{desk="vip",period="window"} 1.0' in text
    assert 'callgate_queue_calls{desk="vip",figure="offered",period="window"} 1.0' in text
    assert 'callgate_queue_waiting{desk="vip"} 0.0' in text
    assert "callgate_queue_service_level_target 0.85" in text


async def test_the_stats_stream_sends_new_figures_when_an_event_is_posted(
    client: TestClient[Any, Any], desk: Desk
) -> None:
    # rule A5: live over SSE
    import orjson

    await enqueue(client, desk, "e1", FIVE, at("09:59:00"))
    stream = await client.get("/v1/queue/stats/stream", headers={"Authorization": f"Bearer {desk.agent}"})
    assert stream.status == 200

    async def next_stats() -> dict[str, Any]:
        event = None
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "stats":
                return orjson.loads(line[6:])  # type: ignore[no-any-return]

    async with asyncio.timeout(5):
        first = await next_stats()
        assert first["desks"]["vip"]["waiting"] == 1
        await call(
            client, "POST", "/v1/queue/calls/e1/events", desk.ivr, {"kind": "answered", "at": at("09:59:30")}
        )
        while True:
            latest = await next_stats()
            if latest["desks"]["vip"]["window"]["answered"] == 1:
                break
    assert latest["desks"]["vip"]["waiting"] == 0
    stream.close()
