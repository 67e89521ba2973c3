"""X1: callgate on a real Redis Cluster — 3 masters + 3 replicas on loopback, started from
the same redis-server the embedded mode runs (`gateway.stores.embedded_cluster`).

The app (`create_app` with `CALLGATE_REDIS_URL=redis+cluster://…`) serves lookups, credit
debits, a reactivation, the queue engine and points; the keys land on different masters;
every Lua script touches one slot; a master killed with SIGKILL is replaced by its replica
while lookups keep answering (from PostgreSQL meanwhile) and credit never overspends."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis as sync_redis
from aiohttp.test_utils import TestClient

from entitlements.months import Month
from entitlements.queuestats import Counts
from gateway.batch import evaluation
from gateway.http.app import create_app
from gateway.http.keys import LOOKUP
from gateway.metrics import Metrics
from gateway.services import points
from gateway.services.credit import credit_keys, dead_letter_key, state_key
from gateway.services.lookup import call_key
from gateway.services.screenpop import history_key
from gateway.settings import Settings, SettingsError
from gateway.stores import cluster, queuestore
from gateway.stores.cluster import key_slot
from gateway.stores.embedded_cluster import EmbeddedRedisCluster, free_port
from gateway.stores.fastredis import PipelinedRedis, RedisUnavailable, _split, commands_of
from gateway.stores.record import Record, key_of, unknown_key
from tests.conftest import FIXED_NOW, TEST_DIR
from tests.gateway import grants
from tests.gateway import province as province_rows
from tests.gateway.lookup_support import FIVE, FOUR, ONE, WITH_MANAGER_FOUR
from tests.gateway.points_support import POLICY, points_file
from tests.gateway.queue_support import Desk, call, queue_desk
from tests.gateway.test_screenpop import next_call

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
TODAY = date(2026, 11, 26)
PREPAID = grants.OTHER  # a prepaid diamond customer with temporary credit
SUSPENDED = grants.GOLD  # a suspended postpaid gold customer (R4: may be reactivated)
AT = "2026-11-26T09:59:30+08:00"


# --- no cluster needed: slots, URLs, scripts -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "slot"),
    [
        pytest.param(b"123456789", 12739, id="the CRC16 check value of the cluster spec"),
        pytest.param(b"foo", 12182, id="a key without a tag hashes whole"),
        pytest.param(b"{foo}.bar", 12182, id="a tag hashes alone"),
        pytest.param(b"foo{}{bar}", key_slot(b"foo{}{bar}"), id="an empty first tag: the whole key"),
    ],
)
def test_key_slots_follow_the_cluster_spec(name: bytes, slot: int) -> None:
    # rule X1: the client computes the slots Redis Cluster does
    assert key_slot(name) == slot
    assert key_slot(b"foo{}{bar}") != key_slot(b"bar")


def test_the_url_names_seed_nodes() -> None:
    # rule X1: CALLGATE_REDIS_URL=redis+cluster://host:port[,host:port…]
    url = "redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001"
    settings = Settings.from_env({"CALLGATE_REDIS_URL": url})
    assert settings.redis_url == url
    address = cluster.parse(url)
    assert address.seeds == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert (address.username, address.password) == ("u", "p@ss")
    assert address.node_url("10.0.0.3", 7002) == "redis://u:p%40ss@10.0.0.3:7002"
    for bad in ("redis+cluster://", "redis+cluster://host", "redis+cluster://h:1,h2:port"):
        with pytest.raises(SettingsError, match="CALLGATE_REDIS_URL"):
            Settings.from_env({"CALLGATE_REDIS_URL": bad})


def _script_commands() -> list[tuple[str, bytes]]:
    """Every Lua script call the queue engine sends (as the queue store encodes it)."""
    counts = Counts(*([1] * len(Counts.names())))
    return [
        ("enqueue", queuestore.enqueue("vip", "c-1", 1, 2, 4, 10_000, "18612340101")),
        ("heads", queuestore.heads("vip")),
        ("claim", queuestore.claim("vip", "4:2", 5, "A4", 6, "tok")),
        ("event", queuestore.event("general", "c-1", "answered", 1_764_122_400_000, counts)),
        (
            "stats",
            queuestore.stats("vip", [queuestore.minute_key("vip", 1), queuestore.interval_key("vip", 2)]),
        ),
        ("agent_begin", queuestore.agent_begin("A4", "tok", 1)),
        ("agent_abort", queuestore.agent_abort("A4", "tok")),
        ("agent_assign", queuestore.agent_assign("A4", "tok", "c-1", "vip")),
        ("agent_set", queuestore.agent_set("A4", "busy", 1)),
        ("agent_after", queuestore.agent_after("A4", "tok", "available", 1)),
        ("mirror", queuestore.mirrors("vip", [("A4", "busy", 1)])),
        ("mirrors", queuestore.mirrors("general", [("A4", "busy", 1), ("A5", "offline", 2)])),
    ]


@pytest.mark.parametrize(("name", "payload"), _script_commands(), ids=[n for n, _ in _script_commands()])
def test_every_queue_script_touches_one_slot(name: str, payload: bytes) -> None:
    # rule X1: every Lua script single-slot — its KEYS, and the keys it derives from the
    # desk prefix it is given (`{desk:D}:q:<bucket>`, `{desk:D}:c:<call>`), share one slot
    (command,) = _split(payload)
    ((_, parts),) = commands_of(payload)
    assert parts[0] == b"EVALSHA", name
    count = int(parts[2])
    keys = parts[3 : 3 + count]
    assert keys and {key_slot(k) for k in keys} == {command.slot}
    args = parts[3 + count :]
    for prefix in [a for a in args if a.startswith(b"{desk:")]:
        assert key_slot(prefix + b":q:4:2") == key_slot(prefix + b":c:x") == command.slot


def test_the_call_id_claim_is_plain_commands_on_one_slot() -> None:
    # rule X1: the enqueue's claim of a call id (SET NX, then GET) touches the pointer's slot only
    payload = b"".join(queuestore.pointer_claim("c-1"))
    assert [parts[0] for _, parts in commands_of(payload)] == [b"SET", b"GET"]
    assert {command.slot for command in _split(payload)} == {key_slot(b"queue-call:{c-1}")}


def test_a_subscribers_keys_share_its_slot() -> None:
    # rule X1: credit state, refs, journal, generation and dead letters of a number share
    # `{MSISDN}` (the credit scripts take several of them at once), as does its "not a
    # subscriber" mark; its record lives in a bucket of 100-odd records, one slot each
    # (`sb:{N}`: no script touches a bucket and another key)
    number = "18612340101"
    names = [state_key(number), *credit_keys(number), dead_letter_key(number), unknown_key(number).decode()]
    assert {key_slot(n.encode()) for n in names} == {key_slot(number.encode())}
    bucket, _ = key_of(number)
    assert key_slot(bucket) == key_slot(bucket[bucket.index(b"{") + 1 : bucket.index(b"}")])
    assert len({key_slot(key_of(f"1861234{i:04d}")[0]) for i in range(100)}) > 50
    # keys always used alone need no tag: they spread by their whole name
    assert len({key_slot(call_key(f"call-{i}")) for i in range(100)}) > 50
    assert len({key_slot(f"call:call-{i}".encode()) for i in range(100)}) > 50
    assert key_slot(history_key("A4").encode()) == key_slot(b"A4")


# --- a real cluster ------------------------------------------------------------------------


def _new_cluster() -> EmbeddedRedisCluster:
    return EmbeddedRedisCluster(TEST_DIR / f"redis-cluster-{os.getpid()}-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[EmbeddedRedisCluster]:
    """One 3+3 cluster for the tests that do not kill nodes."""
    rig = _new_cluster()
    rig.start()
    yield rig
    rig.stop()
    shutil.rmtree(rig.directory, ignore_errors=True)  # a cluster is made fresh each run


def _cmd(client: sync_redis.Redis, *args: Any) -> Any:
    """A raw command (CLUSTER …, MIGRATE) on a node."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _flush(rig: EmbeddedRedisCluster) -> None:
    for port in rig.master_ports():
        client = sync_redis.Redis(host="127.0.0.1", port=port)
        client.flushall()
        client.close()


def _keys_by_master(rig: EmbeddedRedisCluster) -> dict[int, set[bytes]]:
    out = {}
    for port in rig.master_ports():
        client = sync_redis.Redis(host="127.0.0.1", port=port)
        out[port] = {k if isinstance(k, bytes) else k.encode() for k in client.keys("*")}
        client.close()
    return out


@pytest.fixture
async def province(conn: asyncpg.Connection, database_url: str) -> Desk:
    """The evaluated province with agents (queue tests), a prepaid customer with 50 yuan of
    temporary credit, and a suspended postpaid gold customer."""
    desk = await queue_desk(conn, database_url)
    await grants.customer(conn, PREPAID, level="diamond", payment_mode="prepaid", status="active")
    await grants.credit_grant(conn, PREPAID, 5000)
    await grants.customer(conn, SUSPENDED)
    return desk


async def _lookup(client: TestClient[Any, Any], token: str, number: str) -> dict[str, Any]:
    status, body = await call(client, "GET", f"/v1/ivr/lookup?ani={number}", token)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def _from_cache(client: TestClient[Any, Any], token: str, number: str) -> dict[str, Any]:
    for _ in range(300):
        body = await _lookup(client, token, number)
        if body["source"] == "cache":
            return body
        await asyncio.sleep(0.01)
    raise AssertionError("the lookup never came from the cache")


async def _authorize(client: TestClient[Any, Any], token: str, amount: str, ref: str) -> tuple[int, Any]:
    body = {"msisdn": PREPAID, "amount_yuan": amount, "ref": ref}
    return await call(client, "POST", "/v1/credit/authorize", token, body)


async def test_the_app_serves_everything_from_a_cluster(
    shared_cluster: EmbeddedRedisCluster,
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    province: Desk,
    tmp_path: Path,
) -> None:
    # rule X1: lookups, credit (R5), a reactivation (R4), the queue engine (A4) and points
    # (P3) on a 3+3 cluster, the keys spread over the masters
    _flush(shared_cluster)
    on_cluster = Settings(
        database_url=settings.database_url, redis_url=shared_cluster.url(), data_dir=tmp_path, now=FIXED_NOW
    )
    desk = province
    client = await aiohttp_client(create_app(on_cluster))
    numbers = (FIVE, FOUR, ONE, WITH_MANAGER_FOUR, PREPAID, SUSPENDED)
    # Lookups: a miss fills the record, the next answer comes from the cluster.
    for number in numbers:
        first = await _lookup(client, desk.ivr, number)
        assert first["known"] is True and first["source"] == "database"
        cached = await _from_cache(client, desk.ivr, number)
        assert {k: v for k, v in cached.items() if k != "source"} == {
            k: v for k, v in first.items() if k != "source"
        }
    assert (await _lookup(client, desk.ivr, FIVE))["tier"]["level"] == "five_star"
    # Credit: charges until the 50 yuan are used up, idempotent per ref.
    assert await _authorize(client, desk.ivr, "30.00", "r1") == (
        200,
        {"approved": True, "remaining_yuan": "20.00"},
    )
    assert await _authorize(client, desk.ivr, "30.00", "r1") == (
        200,
        {"approved": True, "remaining_yuan": "20.00"},
    )
    declined = await _authorize(client, desk.ivr, "20.01", "r2")
    assert declined[1]["code"] == "credit_exhausted"
    assert (
        int(await conn.fetchval("SELECT credit_used_fen FROM reactivations WHERE msisdn = $1", PREPAID))
        == 3000
    )
    # A reactivation: granted, and the cache follows the commit (the record says active).
    grants.answer_own_call(client, SUSPENDED)
    status, granted = await grants.reactivate(client, desk.agent, "k-cluster")
    assert status == 201, granted
    assert (await _from_cache(client, desk.ivr, SUSPENDED))["status"] == "active"
    # The queue engine: a five-star call enqueued, a four-star agent takes it.
    status, queued = await call(
        client, "POST", "/v1/queue/calls", desk.ivr, {"call_id": "c-x1", "ani": FIVE, "enqueued_at": AT}
    )
    assert status == 201, queued
    status, _ = await call(client, "PUT", "/v1/agents/A4/state", desk.ivr, {"state": "available", "at": AT})
    assert status == 200
    status, taken = await call(
        client, "POST", "/v1/agents/A4/next", desk.ivr, {"at": "2026-11-26T09:59:40+08:00"}
    )
    assert status == 200 and taken["call_id"] == "c-x1" and taken["ani"] == FIVE
    # Points: imported with the cluster client, read by the lookup from the record.
    redis = cluster.client(shared_cluster.url())
    try:
        await points.import_points(
            conn, redis, Metrics(), POLICY, points_file(tmp_path, [f"{FOUR},2026-03-01,2500,bill,"]), TODAY,
            show_progress=False,
        )  # fmt: skip
    finally:
        await redis.aclose()
    assert (await _from_cache(client, desk.ivr, FOUR))["points"]["balance"] == 2500
    # The keys are spread: every master holds some, each subscriber's keys on one master.
    by_master = _keys_by_master(shared_cluster)
    assert sum(1 for keys in by_master.values() if keys) == 3
    for number in numbers:
        holders = [p for p, keys in by_master.items() if key_of(number)[0] in keys]
        assert len(holders) == 1
    credit_holder = [p for p, keys in by_master.items() if state_key(PREPAID).encode() in keys]
    assert len(credit_holder) == 1
    desk_keys = {p for p, keys in by_master.items() for k in keys if k.startswith(b"{desk:vip}")}
    assert len(desk_keys) == 1


async def test_moved_and_ask_are_followed(shared_cluster: EmbeddedRedisCluster) -> None:
    # rule X1: a slot migrating between masters (ASK while it moves, MOVED after) does not
    # fail the pipelined client's GETs, batches or bulk writes
    _flush(shared_cluster)
    fast = PipelinedRedis(shared_cluster.url(), connections=1)
    name = b"s:{18612349999}"
    try:
        await fast.execute([(b"SET", name, b"record")], 2.0)
        slot = key_slot(name)
        source = shared_cluster.owner(slot)
        target = next(p for p in shared_cluster.master_ports() if p != source)
        src = sync_redis.Redis(host="127.0.0.1", port=source)
        dst = sync_redis.Redis(host="127.0.0.1", port=target)
        src_id, dst_id = _cmd(src, "CLUSTER MYID"), _cmd(dst, "CLUSTER MYID")
        _cmd(dst, "CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        _cmd(src, "CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        # The key is still on the source: answered there; a new key of the slot: ASK.
        assert await fast.get(name, 2.0) == b"record"
        fresh = b"s:{18612349999}:new"
        assert key_slot(fresh) == slot
        assert await fast.execute([(b"SET", fresh, b"x"), (b"GET", fresh)], 2.0) == [b"OK", b"x"]
        assert _cmd(dst, "CLUSTER COUNTKEYSINSLOT", slot) == 1  # written where ASK said
        _cmd(src, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", name)
        for node in shared_cluster.master_ports():
            peer = sync_redis.Redis(host="127.0.0.1", port=node)
            _cmd(peer, "CLUSTER SETSLOT", slot, "NODE", dst_id)
            peer.close()
        refreshes = fast._cluster.refreshes if fast._cluster else 0
        # The client's map still says source: MOVED, followed, and the map read again.
        assert await fast.get(name, 2.0) == b"record"
        assert await fast.bulk(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$1\r\n2\r\n" % (len(name), name), 1, 2.0
        ) == [b"OK"]
        assert await fast.get(name, 2.0) == b"2"
        for _ in range(100):
            if fast._cluster and fast._cluster.refreshes > refreshes:
                break
            await asyncio.sleep(0.02)
        assert fast._cluster is not None and fast._cluster.slots[slot] is fast._cluster.node(
            ("127.0.0.1", target)
        )
        src.close()
        dst.close()
    finally:
        await fast.close()


@pytest.fixture
async def killable_cluster() -> AsyncIterator[EmbeddedRedisCluster]:
    """A cluster of its own: the test kills one of its masters."""
    rig = _new_cluster()
    await asyncio.to_thread(rig.start)
    yield rig
    rig.stop()
    shutil.rmtree(rig.directory, ignore_errors=True)


async def test_a_killed_master_is_replaced_while_lookups_answer_and_credit_never_overspends(
    killable_cluster: EmbeddedRedisCluster,
    aiohttp_client: ClientFactory,
    settings: Settings,
    conn: asyncpg.Connection,
    province: Desk,
    tmp_path: Path,
) -> None:
    # rule X1 (failover) and rule Q4 (lookups fall back while Redis fails) and rule R5
    # (never overspend): SIGKILL the master holding the prepaid customer's slot mid-traffic
    rig = killable_cluster
    on_cluster = Settings(
        database_url=settings.database_url, redis_url=rig.url(), data_dir=tmp_path, now=FIXED_NOW
    )
    desk = province
    client = await aiohttp_client(create_app(on_cluster))
    numbers = (FIVE, FOUR, ONE, WITH_MANAGER_FOUR, PREPAID, SUSPENDED)
    for number in numbers:
        await _from_cache(client, desk.ivr, number)
    victim = rig.owner(key_slot(PREPAID.encode()))
    answers: list[dict[str, Any]] = []
    approved: list[str] = []
    stop = asyncio.Event()

    async def lookups() -> None:
        while not stop.is_set():
            for number in numbers:
                answers.append(await _lookup(client, desk.ivr, number))
            await asyncio.sleep(0.005)

    async def charges() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            status, body = await _authorize(client, desk.ivr, "1.00", f"f{n}")
            assert status == 200, body
            if body["approved"]:
                approved.append(f"f{n}")
            await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(lookups()), asyncio.create_task(charges())]
    await asyncio.sleep(0.3)
    before = len(answers)
    await asyncio.to_thread(rig.kill, victim)
    promoted = await asyncio.to_thread(rig.wait_failover, victim, 60)
    assert promoted != victim
    # After the failover the slot map is read again: the lookups come from the cache.
    for _ in range(500):
        sources = [(await _lookup(client, desk.ivr, n))["source"] for n in numbers]
        if set(sources) == {"cache"}:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("lookups never came back to the cache after the failover")
    stop.set()
    await asyncio.gather(*tasks)
    during = answers[before:]
    assert during and all(a["known"] for a in during if a["source"] != "default")
    assert {a["source"] for a in during} <= {"cache", "database", "default"}
    fast = client.app[LOOKUP].fast
    assert fast._cluster is not None
    assert ("127.0.0.1", promoted) in {
        a for a, n in fast._cluster.nodes.items() if n in fast._cluster.masters
    }
    # Credit: 50 yuan, charged 1 yuan at a time through the failover — never more.
    used = int(await conn.fetchval("SELECT credit_used_fen FROM reactivations WHERE msisdn = $1", PREPAID))
    recorded = {
        r["ref"]
        for r in await conn.fetch("SELECT ref FROM credit_debits WHERE msisdn = $1 AND approved", PREPAID)
    }
    assert used <= 5000 and len(approved) * 100 <= 5000
    assert set(approved) <= recorded  # every approval answered is in PostgreSQL
    assert used == 100 * len(recorded)


async def test_a_screen_pop_crosses_workers_through_the_cluster(
    shared_cluster: EmbeddedRedisCluster,
    aiohttp_client: ClientFactory,
    settings: Settings,
    province: Desk,
    tmp_path: Path,
) -> None:
    # rule X1: the call memory (`call:` keys, spread by their whole name) and the screen
    # pop's pub/sub (PUBLISH on one master, the cluster bus carries it to every node) work
    # across two workers on the cluster
    _flush(shared_cluster)
    on_cluster = Settings(
        database_url=settings.database_url, redis_url=shared_cluster.url(), data_dir=tmp_path, now=FIXED_NOW
    )
    desk = province
    ivr, agent = {"Authorization": f"Bearer {desk.ivr}"}, {"Authorization": f"Bearer {desk.agent}"}
    worker_a = await aiohttp_client(create_app(on_cluster))  # holds the agent's stream
    worker_b = await aiohttp_client(create_app(on_cluster))  # answers the IVR's lookups
    stream = await worker_a.get("/v1/agents/A1001/events", headers=agent)
    assert stream.status == 200
    await asyncio.sleep(0.3)  # both workers subscribed
    for number, call_id in ((FIVE, "x1-call-1"), (FOUR, "x1-call-2"), (ONE, "x1-call-3")):
        looked_up = await (
            await worker_b.get("/v1/ivr/lookup", params={"ani": number, "call_id": call_id}, headers=ivr)
        ).json()
        await asyncio.sleep(0.15)  # the call memory reaches Redis in batches of 50 ms
        # Posted to the other worker: it reads the call's answer from the cluster.
        connected = await worker_a.post(
            f"/v1/calls/{call_id}/connected", json={"agent_id": "A1001"}, headers=ivr
        )
        assert connected.status == 202
        event = await next_call(stream)
        assert event["call_id"] == call_id and event["answer"] == looked_up
    await asyncio.sleep(0.1)  # the history reaches Redis with the next 20 ms flush
    history = await (await worker_b.get("/v1/agents/A1001/calls", headers=agent)).json()
    assert [item["call_id"] for item in history["items"]] == ["x1-call-3", "x1-call-2", "x1-call-1"]
    stream.close()
    by_master = _keys_by_master(shared_cluster)
    call_keys = [f"call:x1-call-{i}".encode() for i in (1, 2, 3)]
    assert all(sum(k in keys for keys in by_master.values()) == 1 for k in call_keys)


async def test_the_evaluation_writes_its_records_across_the_masters(
    shared_cluster: EmbeddedRedisCluster, conn: asyncpg.Connection, database_url: str
) -> None:
    # rule X1: the evaluation's bulk refresh of the cache (PipelinedRedis.bulk) split by master
    _flush(shared_cluster)
    await province_rows.branches(conn)
    for number, arpu in ((FIVE, 200), (FOUR, 110), (ONE, 10), (WITH_MANAGER_FOUR, 110)):
        await province_rows.subscriber(conn, number)
        await province_rows.bills(conn, number, "2025-09", "2026-10", arpu)
    await evaluation.run(
        conn, POLICY, Month.parse("2026-10"), TODAY, dsn=database_url, redis_url=shared_cluster.url(),
        workers=1, show_progress=False,
    )  # fmt: skip
    by_master = _keys_by_master(shared_cluster)
    fast = PipelinedRedis(shared_cluster.url(), connections=1)
    try:
        for number in (FIVE, FOUR, ONE, WITH_MANAGER_FOUR):
            name, field = key_of(number)
            assert sum(name in keys for keys in by_master.values()) == 1
            record = Record.decode(await fast.get(name, 2.0, field) or b"")
            assert record is not None and record.tier_on(TODAY) is not None
    finally:
        await fast.close()
    assert sum(1 for keys in by_master.values() if keys) >= 2


async def test_the_credit_reconciler_finds_journals_on_every_master(
    shared_cluster: EmbeddedRedisCluster,
) -> None:
    # rule X1 and rule R5: the full reconcile's SCAN for `c:{M}:j` covers every master of the
    # cluster (redis-py's cluster client scans each), not the one node it happens to ask
    _flush(shared_cluster)
    numbers = [f"186123470{i:02d}" for i in range(30)]
    redis = cluster.client(shared_cluster.url())
    try:
        for number in numbers:
            await redis.rpush(credit_keys(number)[2], b"{}")
        found = {bytes(n) async for n in redis.scan_iter(match="c:{*}:j", count=1000)}
    finally:
        await redis.aclose()
    assert found == {credit_keys(n)[2].encode() for n in numbers}
    holders = [p for p, keys in _keys_by_master(shared_cluster).items() if keys]
    assert len(holders) == 3


async def test_a_master_joining_the_map_gets_the_scripts(shared_cluster: EmbeddedRedisCluster) -> None:
    # rule X1: scripts are cached per node; a master new to the slot map (a reshard adds one)
    # gets the scripts every master was given, so a round trip of several scripts on several
    # masters never half-runs on a NOSCRIPT of one of them
    fast = PipelinedRedis(shared_cluster.url(), connections=1)
    port = free_port()
    joining = subprocess.Popen(
        [
            str(shared_cluster.binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        await fast.execute([(b"SCRIPT", b"LOAD", s.source) for s in queuestore.SCRIPTS], 5.0)
        seed = sync_redis.Redis(host="127.0.0.1", port=shared_cluster.master_ports()[0])
        ranges = _cmd(seed, "CLUSTER SLOTS")
        seed.close()
        for _ in range(100):
            if _ask_ping(port):
                break
            await asyncio.sleep(0.05)
        newcomer = sync_redis.Redis(host="127.0.0.1", port=port)
        shas = [s.sha.decode() for s in queuestore.SCRIPTS]
        assert newcomer.script_exists(*shas) == [False] * len(shas)
        first = ranges[0]
        moved = [[first[0], first[1], [b"127.0.0.1", port, b"new"]], *ranges[1:]]
        assert fast._cluster is not None
        fast._cluster._install(moved, "127.0.0.1")
        for _ in range(100):
            if all(newcomer.script_exists(*shas)):
                break
            await asyncio.sleep(0.02)
        assert newcomer.script_exists(*shas) == [True] * len(shas)
        newcomer.close()
    finally:
        await fast.close()
        joining.kill()
        joining.wait()


def _ask_ping(port: int) -> bool:
    client = sync_redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    try:
        return bool(client.ping())
    except sync_redis.RedisError:
        return False
    finally:
        client.close()


async def test_seeds_that_are_no_cluster_make_redis_unavailable(shared_cluster: EmbeddedRedisCluster) -> None:
    # rule X1 and rule Q4: a cluster URL whose seeds do not answer, or are no cluster, fails
    # like a Redis that is down (RedisUnavailable: the lookup falls back), never otherwise
    port = free_port()
    standalone = subprocess.Popen(
        [
            str(shared_cluster.binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if _ask_ping(port):
                break
            await asyncio.sleep(0.05)
        for url in (f"redis+cluster://127.0.0.1:{port}", f"redis+cluster://127.0.0.1:{free_port()}"):
            fast = PipelinedRedis(url, connections=1)
            try:
                with pytest.raises(RedisUnavailable):
                    await fast.get(key_of("18612340101")[0], 2.0, key_of("18612340101")[1])
                with pytest.raises(RedisUnavailable):
                    await fast.execute([(b"PING",)], 2.0)
                with pytest.raises(RedisUnavailable):
                    await fast.ping(2.0)
            finally:
                await fast.close()
    finally:
        standalone.kill()
        standalone.wait()
