#!/usr/bin/env python3
"""Benchmark the entitlements engine: evaluate a million synthetic subscribers in memory.

Builds N subscribers (deterministic seed) with 13 months of bills each and a realistic
mix of current assignments, evaluates them all under ``unicom-2015`` with the
explanation dicts built (the batch stores them), then a smaller run for each other
policy, and prints subscribers per second.

    .venv/bin/python benchmarks/bench_engine.py                 # 1,000,000 + 100,000 each
    .venv/bin/python benchmarks/bench_engine.py -n 200000 --others 20000

Bill amounts come from a pool of distinct 13-month patterns (the realistic part is the
spread of levels and states, not a million distinct integers, which would only measure
the allocator).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from entitlements.model import LEVELS, Assignment, BillHistory, Subscriber
from entitlements.months import Month
from entitlements.policy import Policy, load_policy, policy_names
from entitlements.tiers import evaluate

MONTH = Month.parse("2026-11")
RUN_DATE = MONTH.day(6)
PATTERNS = 8192
FLAG_MIX: list[tuple[frozenset[str], float]] = [
    (frozenset(), 0.88),
    (frozenset({"group"}), 0.04),
    (frozenset({"data_card"}), 0.025),
    (frozenset({"wo_family"}), 0.02),
    (frozenset({"vip_guest"}), 0.005),
    (frozenset({"loyal"}), 0.01),
    (frozenset({"test"}), 0.005),
    (frozenset({"employee_2g"}), 0.005),
    (frozenset({"public_free"}), 0.01),
]
BRANDS = ["gotone", "mzone", "easyown", "wo"]


def _weighted(rng: random.Random, table: Sequence[tuple[object, float]]) -> object:
    x = rng.random()
    acc = 0.0
    for value, weight in table:
        acc += weight
        if x < acc:
            return value
    return table[-1][0]


def bill_patterns(rng: random.Random) -> list[tuple[tuple[int | None, ...], int]]:
    """Distinct 13-month billed amounts (fen) with a long-tailed ARPU, and a cumulative."""
    patterns = []
    for _ in range(PATTERNS):
        arpu = min(int(rng.lognormvariate(4.3, 0.8) * 100), 300_000)
        months: list[int | None] = []
        for _m in range(13):
            if rng.random() < 0.02:
                months.append(None)
            else:
                months.append(max(0, int(arpu * rng.uniform(0.7, 1.3))))
        cumulative = sum(m or 0 for m in months) * rng.randint(1, 8)
        patterns.append((tuple(months), cumulative))
    return patterns


def current_for(rng: random.Random, policy: Policy) -> Assignment | None:
    """A held assignment: none, or one granted 1–12 months ago (some due for re-evaluation)."""
    if rng.random() < 0.45:
        return None
    scheme = policy.scheme
    # Levels the figures give (special levels and supreme cards come from flags).
    level = rng.choice([lv for lv in LEVELS[scheme][:-1] if lv not in ("vip_guest", "loyal", "supreme")])
    back = rng.randint(0, 11)
    mode = policy.rating.validity.mode
    if mode == "star":
        start = MONTH - back
        return Assignment(scheme, level, policy.name, start.first_day, (start + 11).last_day)
    if mode == "card":
        granted = (MONTH - back - 1).day(6)
        return Assignment(scheme, level, policy.name, granted, (MONTH - back + 11).day(8))
    return Assignment(scheme, level, policy.name, MONTH.first_day, None)


def build(
    n: int, seed: int, policy: Policy
) -> tuple[list[Subscriber], list[BillHistory], list[Assignment | None]]:
    """N subscribers, their bill histories and current assignments (deterministic)."""
    rng = random.Random(seed)
    patterns = bill_patterns(rng)
    end = MONTH - 1
    first_join = date(2003, 1, 1).toordinal()
    last_join = RUN_DATE.toordinal()
    currents = [current_for(rng, policy) for _ in range(512)]
    subs: list[Subscriber] = []
    histories: list[BillHistory] = []
    held: list[Assignment | None] = []
    for i in range(n):
        r = rng.random()
        service = "mobile" if r < 0.9 else ("fixed" if r < 0.96 else "broadband")
        network = rng.choice(("2g", "3g", "4g", "4g", "5g")) if service == "mobile" else None
        # Skewed to recent joiners, like a real base: some are not rated yet.
        joined = date.fromordinal(last_join - int((last_join - first_join) * rng.random() ** 2))
        subs.append(
            Subscriber(
                msisdn=f"186{i:08d}",
                service_type=service,  # type: ignore[arg-type]  # from the vocabulary
                network=network,  # type: ignore[arg-type]  # from the vocabulary
                payment_mode="prepaid" if rng.random() < 0.3 else "postpaid",
                plan_code="P1",
                brand=BRANDS[i % 4],
                status="cancelled" if rng.random() < 0.01 else "active",
                joined_on=joined,
                flags=_weighted(rng, FLAG_MIX),  # type: ignore[arg-type]  # frozensets
                lucky_class=rng.choice((1, 2, 3)) if rng.random() < 0.01 else None,
                contract_plan=rng.choice((156, 386, 586)) if rng.random() < 0.05 else None,
                suspensions=rng.choice((0, 0, 0, 0, 1, 2)),
                birthday=None,
            )
        )
        billed, cumulative = patterns[rng.randrange(PATTERNS)]
        histories.append(BillHistory(end, billed, billed, cumulative))
        held.append(currents[rng.randrange(len(currents))])
    return subs, histories, held


def bench(policy: Policy, n: int, seed: int) -> dict[str, object]:
    """Build and evaluate ``n`` subscribers under ``policy``; timings and a summary."""
    t0 = time.perf_counter()
    subs, histories, held = build(n, seed, policy)
    built = time.perf_counter() - t0
    changes: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    sample_bytes = 0
    gc.collect()
    gc.disable()  # the loop allocates only short-lived objects; no cycles to find
    try:
        t1 = time.perf_counter()
        for i, (sub, bills, current) in enumerate(zip(subs, histories, held, strict=True)):
            ev = evaluate(policy, sub, bills, MONTH, RUN_DATE, current)
            stored = ev.explanation.to_dict()
            changes[ev.change] += 1
            levels[ev.level] += 1
            if i % 1000 == 0:
                sample_bytes += len(json.dumps(stored, separators=(",", ":")))
        elapsed = time.perf_counter() - t1
    finally:
        gc.enable()
    return {
        "policy": policy.name,
        "subscribers": n,
        "build_s": round(built, 2),
        "evaluate_s": round(elapsed, 2),
        "per_second": int(n / elapsed) if elapsed else 0,
        "us_per_subscriber": round(elapsed / n * 1e6, 2),
        "explanation_bytes_avg": sample_bytes // max(1, (n + 999) // 1000),
        "changes": dict(changes.most_common()),
        "levels": dict(levels.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per policy (and JSON with --json)."""
    parser = argparse.ArgumentParser(description="entitlements engine benchmark")
    parser.add_argument("-n", "--subscribers", type=int, default=1_000_000)
    parser.add_argument("--others", type=int, default=100_000, help="per other policy")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = parser.parse_args(argv)
    results = []
    for name in policy_names():
        n = args.subscribers if name == "unicom-2015" else args.others
        if n <= 0:
            continue
        result = bench(load_policy(name), n, args.seed)
        results.append(result)
        print(
            f"{name:18} {n:>9,} subscribers  build {result['build_s']:>6}s  "
            f"evaluate {result['evaluate_s']:>6}s  {result['per_second']:>9,}/s  "
            f"({result['us_per_subscriber']} µs each, explanation ~"
            f"{result['explanation_bytes_avg']} B)",
            flush=True,
        )
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
