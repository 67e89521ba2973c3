"""Benchmark of the queue engine (SPEC §7, §9 A4): `next` latency with 2,000 calls waiting and
500 agents, and enqueue + next + answered cycles per second on one process — measured at the
service layer (QueueService called in-process, no HTTP) and over HTTP (`callgate serve`, one
worker, driven by an aiohttp client in this process).

    .venv/bin/python benchmarks/bench_queue.py [--subscribers 20000] [--nexts 3000] [--cycles 6000]

Goals: `next` p99 ≤ 5 ms; ≥ 2,000 cycles/s on one process. Prints the machine probe
(bench_evaluation's) before and after, to read the figures against a quiet hour. Starts `callgate serve` on an
embedded demo province (port 18090), adds 500 five-star agents serving both desks, and keeps
2,000 calls waiting while it measures. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import uvloop
from aiohttp import web
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.http.app import create_app  # noqa: E402 - after the path is set
from gateway.http.keys import AGENTS, QUEUE  # noqa: E402
from gateway.services.errors import ServiceError  # noqa: E402
from gateway.services.queue import QueueService  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402

IVR_TOKEN = "cg_demo_ivr_0000000000000000000000000000"
PORT = 18090
AGENTS_N = 500
WAITING = 2000
ids = itertools.count()


def wait_ready(url: str, seconds: float = 900) -> None:
    """Poll until the URL answers 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not become ready")


def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` of the sorted values (ms)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def clear_queue(redis_url: str) -> None:
    """Forget every queued call, agent state and counter (the lookup cache stays)."""
    redis = Redis.from_url(redis_url)
    try:
        for pattern in ("{desk:*", "{agent:*", "queue-call:*"):
            async for key in redis.scan_iter(match=pattern, count=1000):
                await redis.delete(key)
    finally:
        await redis.aclose()


class Driver:
    """The queue engine's operations, in-process or over HTTP."""

    def __init__(
        self,
        enqueue: Callable[[str, str], Awaitable[Any]],
        available: Callable[[str], Awaitable[Any]],
        next_call: Callable[[str], Awaitable[str | None]],
        answered: Callable[[str], Awaitable[Any]],
    ) -> None:
        self.enqueue, self.available, self.next_call, self.answered = enqueue, available, next_call, answered


def service_driver(service: QueueService, agents: dict[str, Any]) -> Driver:
    """QueueService called directly (no HTTP)."""

    async def guard(step: Awaitable[Any]) -> Any:
        try:
            return await step
        except ServiceError as exc:
            if exc.code == "queue_unavailable":
                raise Unavailable from exc
            raise

    async def enqueue(call_id: str, ani: str) -> Any:
        return await guard(service.enqueue(call_id, ani, None))

    async def available(agent: str) -> Any:
        return await guard(service.set_state(agents[agent], "available", None))

    async def next_call(agent: str) -> str | None:
        try:
            chosen = await guard(service.next_call(agents[agent], None))
        except ServiceError as exc:  # a next cut short by a 503 left the agent busy
            if exc.code != "agent_not_available":
                raise
            await available(agent)
            chosen = await guard(service.next_call(agents[agent], None))
        return None if chosen is None else str(chosen["call_id"])

    async def answered(call_id: str) -> Any:
        return await guard(service.event(call_id, "answered", None))

    return Driver(enqueue, available, next_call, answered)


def http_driver(session: aiohttp.ClientSession, base: str) -> Driver:
    """The same operations over HTTP with the IVR's token."""
    headers = {"Authorization": f"Bearer {IVR_TOKEN}"}

    async def send(method: str, path: str, body: Any, expect: tuple[int, ...]) -> Any:
        async with session.request(method, base + path, json=body, headers=headers) as response:
            if response.status == 503:
                raise Unavailable
            if response.status not in expect:
                raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")
            return await response.json(content_type=None) if response.status in (200, 409) else None

    async def enqueue(call_id: str, ani: str) -> Any:
        return await send("POST", "/v1/queue/calls", {"call_id": call_id, "ani": ani}, (201,))

    async def available(agent: str) -> Any:
        return await send("PUT", f"/v1/agents/{agent}/state", {"state": "available"}, (200,))

    async def next_call(agent: str) -> str | None:
        chosen = await send("POST", f"/v1/agents/{agent}/next", {}, (200, 204, 409))
        if chosen is not None and "call_id" not in chosen:  # 409: left busy by a next cut short
            await available(agent)
            chosen = await send("POST", f"/v1/agents/{agent}/next", {}, (200, 204))
        return None if chosen is None else str(chosen["call_id"])

    async def answered(call_id: str) -> Any:
        return await send("POST", f"/v1/queue/calls/{call_id}/events", {"kind": "answered"}, (200,))

    return Driver(enqueue, available, next_call, answered)


async def each(items: list[str], step: Callable[[str], Awaitable[Any]], concurrency: int) -> None:
    """``step(item)`` for every item, at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: str) -> None:
        async with gate:
            await step(item)

    await asyncio.gather(*(one(item) for item in items))


class Unavailable(Exception):
    """A 503 `queue_unavailable` (Redis did not answer within the budget): counted, not fatal."""


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a process: this one (None) or the server's, from /proc."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    driver: Driver,
    agents: list[str],
    numbers: list[str],
    nexts: int,
    cycles: int,
    concurrency: int,
    server_pid: int | None = None,
) -> dict[str, float]:
    """`next` latency at 2,000 waiting / 500 agents, then full cycles per second."""
    rng = random.Random(7)
    failures = 0

    async def guarded(make: Callable[[], Awaitable[Any]]) -> Any:
        # A 503 (Redis silent for the lookup budget: on this shared machine, mostly a stall of
        # the Redis process) is what an ACD would fall back on; the benchmark counts it, waits
        # a moment as the ACD would, and tries again — its time stays in the measurement.
        nonlocal failures
        for _ in range(50):
            try:
                return await make()
            except Unavailable:
                failures += 1
                await asyncio.sleep(0.05)
        raise SystemExit("the queue engine stayed unavailable for seconds")

    await each(
        rng.choices(numbers, k=WAITING), lambda n: guarded(lambda: driver.enqueue(f"w{next(ids)}", n)), 32
    )
    await each(agents, lambda a: guarded(lambda: driver.available(a)), 32)
    latencies: list[float] = []
    free = list(agents)
    for _ in range(nexts):
        agent = free.pop(rng.randrange(len(free)))
        started = time.perf_counter()
        await guarded(lambda: driver.next_call(agent))  # noqa: B023 - awaited at once
        latencies.append((time.perf_counter() - started) * 1000)
        # Untimed: the call is replaced, the agent comes back — 2,000 waiting, 500 agents throughout.
        await guarded(lambda: driver.enqueue(f"w{next(ids)}", rng.choice(numbers)))
        await guarded(lambda: driver.available(agent))  # noqa: B023 - awaited at once
        free.append(agent)
    # Full cycles: a call arrives, a free agent takes it, the ACD reports it answered. The
    # agents come back between rounds of 500 (untimed), so every timed next finds an available one.
    timed = 0.0
    cpu = 0.0
    done = 0
    while done < cycles:
        round_agents = agents[: min(len(agents), cycles - done)]

        async def cycle(agent: str) -> None:
            await guarded(lambda: driver.enqueue(f"c{next(ids)}", rng.choice(numbers)))
            taken = await guarded(lambda: driver.next_call(agent))
            if taken is not None:
                await guarded(lambda: driver.answered(taken))

        started, cpu_started = time.perf_counter(), cpu_seconds(server_pid)
        await each(round_agents, cycle, concurrency)
        timed += time.perf_counter() - started
        cpu += cpu_seconds(server_pid) - cpu_started
        done += len(round_agents)
        await each(round_agents, lambda a: guarded(lambda: driver.available(a)), 32)
    return {
        "next_p50": percentile(latencies, 0.50),
        "next_p99": percentile(latencies, 0.99),
        "next_max": max(latencies),
        "cycles_per_s": done / timed,
        # The serving process's CPU per cycle: what the machine's other load cannot inflate.
        "cpu_ms_per_cycle": cpu * 1000 / done,
        "unavailable": failures,
    }


async def service_layer(
    dsn: str, redis_url: str, agents: list[str], numbers: list[str], args: argparse.Namespace
) -> dict[str, float]:
    """QueueService in this process (the app's cleanup contexts started, no listening socket)."""
    settings = Settings(database_url=dsn, redis_url=redis_url, data_dir=args.data_dir, log_level="warning")
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        directory = app[AGENTS]
        await directory.refresh()
        found = {a: directory.agents[a] for a in agents}
        return await measure(
            service_driver(app[QUEUE], found), agents, numbers, args.nexts, args.cycles, args.concurrency
        )
    finally:
        await runner.cleanup()


async def over_http(
    agents: list[str], numbers: list[str], args: argparse.Namespace, server_pid: int
) -> dict[str, float]:
    """The served process (one worker) over HTTP keep-alive connections."""
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await measure(
            http_driver(session, f"http://127.0.0.1:{PORT}"),
            agents,
            numbers,
            args.nexts,
            args.cycles,
            args.concurrency,
            server_pid,
        )


async def prepare(dsn: str) -> tuple[list[str], list[str]]:
    """500 bench agents (five stars, both desks) and the demo's callers."""
    conn = await asyncpg.connect(dsn)
    try:
        agents = [f"BENCH{i:04d}" for i in range(AGENTS_N)]
        await conn.executemany(
            """INSERT INTO agents (id, name, branch_code, desks, star)
               VALUES ($1, $2, 'HA', '{vip,general}', 5) ON CONFLICT (id) DO NOTHING""",
            [(a, a) for a in agents],
        )
        rows = await conn.fetch("SELECT msisdn FROM subscribers WHERE status <> 'cancelled' LIMIT 20000")
        return agents, [r["msisdn"] for r in rows]
    finally:
        await conn.close()


def main() -> None:
    """Start the service, measure both layers, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--nexts", type=int, default=3000, help="timed `next` calls per layer")
    parser.add_argument("--cycles", type=int, default=6000, help="timed full cycles per layer")
    parser.add_argument("--concurrency", type=int, default=32, help="cycles in flight")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench-queue")
    args = parser.parse_args()
    env = {
        **os.environ,
        "CALLGATE_DATA_DIR": str(args.data_dir),
        "CALLGATE_PORT": str(PORT),
        "CALLGATE_LOG_LEVEL": "warning",
    }
    env.pop("CALLGATE_DATABASE_URL", None)
    env.pop("CALLGATE_REDIS_URL", None)
    callgate = str(ROOT / ".venv" / "bin" / "callgate")
    print(f"starting callgate (demo province of {args.subscribers:,} on first run) …", flush=True)
    server = subprocess.Popen(
        [callgate, "serve", "--demo-subscribers", str(args.subscribers), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{PORT}/readyz")
        dsn = EmbeddedPostgres(args.data_dir / "postgres").dsn()
        redis_url = EmbeddedRedis(args.data_dir / "redis").url()
        subprocess.run([callgate, "cache", "rebuild"], env=env, check=True, capture_output=True)
        from bench_evaluation import machine_probe  # benchmarks/ is the script's directory

        uvloop.install()  # as `callgate serve` runs
        agents, numbers = asyncio.run(prepare(dsn))
        asyncio.run(clear_queue(redis_url))
        probe_before = machine_probe()
        service = asyncio.run(service_layer(dsn, redis_url, agents, numbers, args))
        asyncio.run(clear_queue(redis_url))
        time.sleep(6)  # the server's agents directory reloads (every 5 s) and sees the bench agents
        http = asyncio.run(over_http(agents, numbers, args, server.pid))
        asyncio.run(clear_queue(redis_url))
        probe_after = machine_probe()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    print()
    print(
        f"queue engine: {WAITING:,} calls waiting, {AGENTS_N} agents (five stars, both desks); "
        f"{args.nexts:,} timed next, {args.cycles:,} timed cycles, {args.concurrency} cycles in flight"
    )
    print(
        f"{'':34}{'next p50':>10}{'next p99':>10}{'next max':>10}{'cycles/s':>10}"
        f"{'CPU ms/cycle':>14}{'cycles/CPU-s':>14}{'503s':>7}"
    )
    for name, r in (("service layer (in-process)", service), ("HTTP (callgate serve, 1 worker)", http)):
        print(
            f"{name:34}{r['next_p50']:>9.2f} {r['next_p99']:>9.2f} {r['next_max']:>9.2f} "
            f"{r['cycles_per_s']:>9,.0f}{r['cpu_ms_per_cycle']:>14.3f}{1000 / r['cpu_ms_per_cycle']:>14,.0f}"
            f"{r['unavailable']:>7.0f}"
        )
    print("goals: next p99 ≤ 5 ms; ≥ 2,000 cycles/s (enqueue + next + answered) on one process")
    print(
        f"machine probe (bench_evaluation's loop on both cores): {probe_before:.2f} s before, "
        f"{probe_after:.2f} s after (the figures scale with it; a quiet hour read about 1.1 s on the "
        "earlier reference host, 0.6 s on the faster one)"
    )
    print("(CPU ms/cycle: the serving process's own CPU in the timed cycles — the service layer's includes")
    print(" the driver in this process; the HTTP one is the server's alone, its client runs beside it)")


if __name__ == "__main__":
    main()
