"""Redis memory per cached subscriber (issue 22 goal 3: ≤ 100 bytes, key and overhead
included, loyalty points included; SPEC §7: ≤ 150).

Writes N realistic records into a fresh embedded Redis (records kept in 65,536 hash
buckets, `record.key_of`), and prints the growth of `used_memory` divided by N next to
`MEMORY USAGE` of sampled buckets divided by their subscribers. A bucket's own cost is
shared by its subscribers: the fewer cached, the more each pays (200,000: 3 a bucket;
1,000,000, the issue's province: 15). `--points-share` is the
share of subscribers with a points ledger (default 1.0: every one, the worst case); their
balances are log-normal around 3,000 points (a long tail to 200,000), with points expiring
in the record's last month for a third of them.

It also writes N call-memory keys (H1: `ca:` + 12 bytes, the packed number and minute, with
the call memory's TTL) and prints their bytes per key. `--save-unit-costs FILE` stores both in
the [cache_memory] section of the unit-cost file that `callgate plan` reads (X6).

    .venv/bin/python benchmarks/bench_cache_memory.py [--subscribers 200000] [--points-share 1.0]
        [--save-unit-costs benchmarks/unit_costs.toml]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from datetime import date, timedelta
from pathlib import Path

from redis.asyncio import Redis

from entitlements.model import Tier
from entitlements.months import Month
from gateway.batch.plan import save_section
from gateway.services.cache import write_records
from gateway.services.lookup import call_key, call_value
from gateway.stores.embedded import EmbeddedRedis
from gateway.stores.record import Record, RecordPoints, key_of

LEVELS = ["five_star", "four_star", "three_star", "two_star", "one_star", "unrated"]


def points(rng: random.Random) -> RecordPoints:
    """A subscriber's points as the record keeps them (P3)."""
    balance = min(int(rng.lognormvariate(8.0, 1.0)), 200_000)
    expiring = rng.randint(1, balance) if balance and rng.random() < 0.33 else 0
    return RecordPoints(balance, rng.random() < 0.4, expiring)


def records(n: int, seed: int = 1, points_share: float = 1.0) -> list[tuple[str, Record]]:
    """Records like an evaluation writes them: varied levels, dates, states, managers, points."""
    rng = random.Random(seed)
    today = date(2026, 11, 26)
    out = []
    for i in range(n):
        until = date(2027, rng.randint(1, 12), 1) - timedelta(days=1)
        current = Tier("star", rng.choice(LEVELS), until)
        nxt = Tier("star", rng.choice(LEVELS), until + timedelta(days=365)) if rng.random() < 0.3 else None
        out.append(
            (
                f"1{rng.choice('3456789')}{i:09d}",
                Record(
                    "unicom-2015",
                    current,
                    nxt,
                    date(2026, 12, 1) if nxt else None,
                    rng.choice(["active"] * 18 + ["suspended"]),
                    rng.choice(["prepaid", "postpaid"]),
                    "mobile",
                    rng.choice([0, 0, 0, 1, 2]),
                    Month.of(today) if rng.random() < 0.01 else None,
                    1,
                    rng.random() < 0.01,
                    rng.randint(1, 40) if rng.random() < 0.05 else None,
                    until,
                    points(rng) if rng.random() < points_share else None,
                ),
            )
        )
    return out


async def measure(url: str, n: int, points_share: float) -> tuple[float, float, float, list[int]]:
    """(bytes per subscriber by used_memory, by MEMORY USAGE of 1,000 sampled buckets,
    subscribers per bucket, value sizes)."""
    redis = Redis.from_url(url)
    await redis.flushall()
    before = (await redis.info("memory"))["used_memory"]
    items = records(n, points_share=points_share)
    for start in range(0, n, 20_000):
        await write_records(redis, items[start : start + 20_000])
    after = (await redis.info("memory"))["used_memory"]
    buckets = sorted({key_of(msisdn)[0] for msisdn, _ in items})
    sample = random.Random(2).sample(buckets, min(1000, len(buckets)))
    usage = fields = 0
    for bucket in sample:
        usage += await redis.memory_usage(bucket) or 0
        fields += await redis.hlen(bucket)
    await redis.aclose()
    sizes = [len(record.encode()) for _, record in items]
    return (after - before) / n, usage / fields, n / len(buckets), sizes


async def measure_calls(url: str, n: int, ttl: int = 7200) -> float:
    """Bytes per call-memory key (`used_memory` growth over `n` keys with a TTL, as the lookup
    writes them)."""
    redis = Redis.from_url(url)
    await redis.flushall()
    before = (await redis.info("memory"))["used_memory"]
    rng = random.Random(3)
    at = 1_795_000_000.0  # 2026-11-19: any instant; the value packs its minute
    for start in range(0, n, 20_000):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 20_000)):
                number = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                pipe.set(call_key(f"sip-{i}-{rng.random()}"), call_value(number, at), ex=ttl)
            await pipe.execute()
    after = int((await redis.info("memory"))["used_memory"])
    await redis.aclose()
    return (after - int(before)) / n


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--points-share", type=float, default=1.0, help="share with a points ledger")
    parser.add_argument(
        "--save-unit-costs", type=Path, metavar="FILE", help="store the results for callgate plan"
    )
    parser.add_argument("--note", default="", help="where it was measured (kept with the unit costs)")
    args = parser.parse_args()
    from bench_evaluation import machine_probe  # benchmarks/ is the script's directory

    probe = machine_probe()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis", durable=False)
        url = server.start()
        try:
            per_sub, usage, density, sizes = asyncio.run(measure(url, args.subscribers, args.points_share))
            per_call = asyncio.run(measure_calls(url, args.subscribers))
        finally:
            server.stop()
    mean = sum(sizes) / len(sizes)
    print(
        f"{args.subscribers:,} records of {min(sizes)}–{max(sizes)} bytes (mean {mean:.1f}; "
        f"{args.points_share:.0%} with points), {density:.1f} a bucket (compact up to 128)"
    )
    print(f"used_memory growth per subscriber: {per_sub:.1f} bytes   (goal ≤ 100; SPEC §7 ≤ 150)")
    print(f"MEMORY USAGE per subscriber (1,000 buckets): {usage:.1f} bytes")
    print(f"machine probe (bench_evaluation's loop on both cores): {probe:.2f} s")
    print(f"call memory (H1, ca: keys with TTL): {per_call:.1f} bytes per key")
    if args.save_unit_costs:
        save_section(
            args.save_unit_costs,
            "cache_memory",
            {
                "measured_by": "benchmarks/bench_cache_memory.py",
                "note": args.note,
                "subscribers": args.subscribers,
                "points_share": args.points_share,
                "bytes_per_subscriber": per_sub,
                "bytes_per_call_memory_key": per_call,
            },
        )
        print(f"unit costs saved to {args.save_unit_costs} [cache_memory]")


if __name__ == "__main__":
    main()
