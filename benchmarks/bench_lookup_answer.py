"""The CPU of one cache-hit answer inside the process: the lookup's reuse of record bytes
and the building of the body (`LookupService._from_cache`), without HTTP, Redis or wrk —
so two versions of the code can be compared on a busy machine, where bench_lookup.py's
ratio moves by ±30 % from run to run.

    .venv/bin/python benchmarks/bench_lookup_answer.py [--subscribers 50000] [--calls 300000]

Prints ns per answer for records without points and, where the code has them, with
points (P3). Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date
from typing import Any

from entitlements.policy import load_policy
from gateway.metrics import Metrics
from gateway.services.lookup import LookupService
from gateway.services.policies import PolicyHolder
from gateway.settings import Settings
from gateway.stores import record as record_module

TODAY = date(2026, 11, 26)


def service() -> LookupService:
    """A LookupService that never touches a store (only its answer-building path is timed)."""
    settings = Settings(database_url="postgresql://unused", redis_url="redis://unused")
    pool: Any = None
    redis: Any = None
    return LookupService(settings, PolicyHolder(load_policy("unicom-2015")), pool, redis, Metrics())


def raws(n: int, with_points: bool) -> list[tuple[str, bytes]]:
    """(number, record bytes) as bench_cache_memory.py builds them (points for everyone)."""
    import bench_cache_memory as memory  # run as a script: benchmarks/ is on the path

    share = 1.0 if with_points else 0.0
    try:
        items = memory.records(n, points_share=share)
    except TypeError:  # the code from before points: its records have none
        items = memory.records(n)
    return [(msisdn, rec.encode()) for msisdn, rec in items]


def run(lookup: LookupService, items: list[tuple[str, bytes]], calls: int) -> float:
    """ns per answer over `calls` random cache hits (after one warm pass)."""
    rng = random.Random(5)
    order = [items[rng.randrange(len(items))] for _ in range(calls)]
    for msisdn, raw in items:
        lookup._from_cache(msisdn, raw, TODAY)
    started = time.perf_counter_ns()
    for msisdn, raw in order:
        lookup._from_cache(msisdn, raw, TODAY)
    return (time.perf_counter_ns() - started) / calls


def main() -> None:
    """Measure and print (median of five rounds per kind)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=300_000)
    args = parser.parse_args()
    kinds = [("without points", False)]
    if hasattr(record_module, "RecordPoints"):
        kinds.append(("with points", True))
    for label, with_points in kinds:
        items = raws(args.subscribers, with_points)
        rounds = [run(service(), items, args.calls) for _ in range(5)]
        sizes = {len(raw) for _, raw in items}
        each = ", ".join(f"{r:,.0f}" for r in rounds)
        print(
            f"{label:15} records of {min(sizes)}–{max(sizes)} bytes: "
            f"{statistics.median(rounds):,.0f} ns per answer (rounds {each})"
        )


if __name__ == "__main__":
    main()
