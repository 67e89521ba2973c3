"""Redis memory per cached subscriber (SPEC §7 goal: ≤ 150 bytes, key and overhead included,
loyalty points included).

Writes N realistic records into a fresh embedded Redis, and prints the growth of
`used_memory` divided by N next to `MEMORY USAGE` of sampled keys. `--points-share` is the
share of subscribers with a points ledger (default 1.0: every one, the worst case); their
balances are log-normal around 3,000 points (a long tail to 200,000), with points expiring
in the record's last month for a third of them.

    .venv/bin/python benchmarks/bench_cache_memory.py [--subscribers 200000] [--points-share 1.0]
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
from gateway.services.cache import write_records
from gateway.stores.embedded import EmbeddedRedis
from gateway.stores.record import Record, RecordPoints

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


async def measure(url: str, n: int, points_share: float) -> tuple[float, float, list[int]]:
    """(bytes per subscriber by used_memory, mean MEMORY USAGE of 1,000 keys, value sizes)."""
    redis = Redis.from_url(url)
    await redis.flushall()
    before = (await redis.info("memory"))["used_memory"]
    items = records(n, points_share=points_share)
    for start in range(0, n, 20_000):
        await write_records(redis, items[start : start + 20_000])
    after = (await redis.info("memory"))["used_memory"]
    sample = random.Random(2).sample(items, 1000)
    usage = [await redis.memory_usage(f"s:{{{msisdn}}}") or 0 for msisdn, _ in sample]
    await redis.aclose()
    return (after - before) / n, sum(usage) / len(usage), [len(record.encode()) for _, record in items]


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--points-share", type=float, default=1.0, help="share with a points ledger")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis", durable=False)
        url = server.start()
        try:
            per_sub, usage, sizes = asyncio.run(measure(url, args.subscribers, args.points_share))
        finally:
            server.stop()
    mean = sum(sizes) / len(sizes)
    print(
        f"{args.subscribers:,} records of {min(sizes)}–{max(sizes)} bytes (mean {mean:.1f}; "
        f"{args.points_share:.0%} with points; key s:{{MSISDN}} = 15 bytes)"
    )
    print(f"used_memory growth per subscriber: {per_sub:.1f} bytes   (goal ≤ 150)")
    print(f"MEMORY USAGE per key (mean of 1,000): {usage:.1f} bytes")


if __name__ == "__main__":
    main()
