"""X6: `callgate plan` — the deployment a province needs, from unit costs the benchmarks
measured (`benchmarks/unit_costs.toml`), by plain arithmetic.

Each benchmark writes its own section of the file (`--save-unit-costs`): the Redis bytes a
cached subscriber and a call's memory take (bench_cache_memory.py), the lookups per second
one `callgate serve` process answers and the bytes of a call's remembered answer
(bench_lookup.py), the evaluation's seconds per million subscribers and the PostgreSQL
bytes a subscriber adds per month (bench_evaluation.py). Nothing here is a hand-typed
cost: the planning choices (memory per Redis master, headroom, cores per host) are the
command's options, printed with the plan.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gateway.services.lookup import CALL_TTL

GIB = 1024**3
#: Every section and key `plan` needs, and the benchmark that writes it.
REQUIRED: dict[str, tuple[str, ...]] = {
    "cache_memory": ("bytes_per_subscriber", "bytes_per_call_memory_key"),
    "lookup": ("lookups_per_s_per_process", "bytes_per_call_answer"),
    "evaluation": ("seconds_per_million", "pg_bytes_per_subscriber_month"),
}
WRITERS = {
    "cache_memory": "benchmarks/bench_cache_memory.py",
    "lookup": "benchmarks/bench_lookup.py",
    "evaluation": "benchmarks/bench_evaluation.py",
}
HEADER = (
    "# Unit costs for `callgate plan` (SPEC X6), written by the benchmarks with --save-unit-costs:\n"
    "# each section by the benchmark named in its measured_by, on the machine its note names.\n"
    "# Re-measure on the province's own hardware before sizing it; do not edit numbers by hand.\n"
)


class UnitCostsError(ValueError):
    """The unit-cost file is missing, unreadable or lacks a measured value."""


@dataclass(frozen=True, slots=True)
class UnitCosts:
    """The measured costs `plan` multiplies (see the module docstring for who measures which)."""

    bytes_per_subscriber: float
    bytes_per_call_memory_key: float
    lookups_per_s_per_process: float
    bytes_per_call_answer: float
    seconds_per_million: float
    pg_bytes_per_subscriber_month: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assumptions:
    """Planning choices (not measurements): the command's options."""

    call_memory_s: int = 7200
    redis_master_gb: float = 8.0
    headroom: float = 2.0
    cores_per_host: int = 8
    lookups_per_call: float = 1.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What a province needs at its peak."""

    subscribers: int
    peak_calls_per_s: float
    redis_bytes: float
    redis_cache_bytes: float
    redis_calls_bytes: float
    redis_masters: int
    gateway_processes: int
    gateway_hosts: int
    pg_bytes_per_month: float
    evaluation_s: dict[int, float]
    assumptions: Assumptions


def load_unit_costs(path: Path) -> UnitCosts:
    """Read and check the unit-cost file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UnitCostsError(f"{path}: cannot read the unit costs ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UnitCostsError(f"{path}: not TOML ({exc})") from exc
    values: dict[str, float] = {}
    for section, keys in REQUIRED.items():
        table = data.get(section)
        for name in keys:
            value = table.get(name) if isinstance(table, dict) else None
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise UnitCostsError(
                    f"{path}: [{section}] {name} is missing or not a positive number; "
                    f"measure it with {WRITERS[section]} --save-unit-costs"
                )
            values[name] = float(value)
    notes = tuple(
        f"[{section}] {data[section].get('measured_by', '?')} on {data[section].get('measured_on', '?')}: "
        f"{data[section].get('note', '')}".rstrip(": ")
        for section in REQUIRED
    )
    return UnitCosts(**values, notes=notes)


def shard_counts(shards: int) -> list[int]:
    """1, 2, 4, … up to `shards`, and `shards` itself."""
    counts = {1, shards}
    power = 2
    while power < shards:
        counts.add(power)
        power *= 2
    return sorted(counts)


def plan(
    costs: UnitCosts,
    subscribers: int,
    peak_calls_per_s: float,
    shards: int = 1,
    assume: Assumptions | None = None,
) -> Plan:
    """The deployment for `subscribers` and `peak_calls_per_s`, evaluation time per shard count.

    - Redis holds one record per subscriber, one call-memory key per call for
      `call_memory_s` (H1) and each call's answer for the screen pop (`CALL_TTL`), counted at
      the peak rate as if it lasted that long (the worst case); masters hold at most
      `redis_master_gb` each once the headroom is applied, and a cluster has at least 3.
    - Gateway processes answer the peak's lookups at 1/headroom of their measured rate;
      hosts have `cores_per_host` processes each, and there are at least two of both (one
      may fail).
    - PostgreSQL grows by the measured bytes per subscriber per month (bills, tier rows).
    - The evaluation divides the measured seconds per million by the number of shards (X4:
      each shard on a host like the one measured).
    """
    assume = assume or Assumptions()
    if subscribers <= 0 or peak_calls_per_s <= 0 or shards <= 0:
        raise ValueError("subscribers, peak calls per second and shards must be positive")
    cache = subscribers * costs.bytes_per_subscriber
    calls = peak_calls_per_s * (
        assume.call_memory_s * costs.bytes_per_call_memory_key + CALL_TTL * costs.bytes_per_call_answer
    )
    redis = cache + calls
    masters = max(3, math.ceil(redis * assume.headroom / (assume.redis_master_gb * GIB)))
    lookups = peak_calls_per_s * assume.lookups_per_call
    processes = max(2, math.ceil(lookups * assume.headroom / costs.lookups_per_s_per_process))
    hosts = max(2, math.ceil(processes / assume.cores_per_host))
    evaluation = {k: subscribers / 1e6 * costs.seconds_per_million / k for k in shard_counts(shards)}
    return Plan(
        subscribers=subscribers,
        peak_calls_per_s=peak_calls_per_s,
        redis_bytes=redis,
        redis_cache_bytes=cache,
        redis_calls_bytes=calls,
        redis_masters=masters,
        gateway_processes=processes,
        gateway_hosts=hosts,
        pg_bytes_per_month=subscribers * costs.pg_bytes_per_subscriber_month,
        evaluation_s=evaluation,
        assumptions=assume,
    )


def _gb(value: float) -> str:
    return f"{value / GIB:,.1f} GiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"


def render(result: Plan, costs: UnitCosts) -> str:
    """The plan as the command prints it."""
    a = result.assumptions
    lines = [
        f"plan for {result.subscribers:,} subscribers, {result.peak_calls_per_s:,.0f} calls/s at the peak",
        "",
        f"Redis         {_gb(result.redis_bytes)} in use at the peak "
        f"(cache {_gb(result.redis_cache_bytes)}, "
        f"call memory and screen pops {_gb(result.redis_calls_bytes)})",
        f"              {result.redis_masters} masters + {result.redis_masters} replicas "
        f"(≤ {a.redis_master_gb:g} GiB per master with headroom ×{a.headroom:g}; a cluster has ≥ 3)",
        f"gateway       {result.gateway_processes} processes on {result.gateway_hosts} hosts "
        f"({a.cores_per_host} per host; {costs.lookups_per_s_per_process:,.0f} lookups/s per process "
        f"measured, used to 1/{a.headroom:g})",
        f"PostgreSQL    {_gb(result.pg_bytes_per_month)} per month "
        f"({costs.pg_bytes_per_subscriber_month:,.0f} bytes per subscriber and month), "
        f"{_gb(result.pg_bytes_per_month * 12)} a year",
        "evaluation    "
        + ", ".join(
            f"{k} shard{'s' if k > 1 else ''}: {_duration(s)}" for k, s in result.evaluation_s.items()
        ),
        "",
        "unit costs used:",
        f"  {costs.bytes_per_subscriber:,.1f} B per cached subscriber, "
        f"{costs.bytes_per_call_memory_key:,.1f} B per call-memory key ({a.call_memory_s:,} s kept), "
        f"{costs.bytes_per_call_answer:,.1f} B per remembered answer ({CALL_TTL} s kept)",
        f"  {costs.lookups_per_s_per_process:,.0f} lookups/s per process, "
        f"{costs.seconds_per_million:,.1f} s of evaluation per million subscribers, "
        f"{costs.pg_bytes_per_subscriber_month:,.0f} B of PostgreSQL per subscriber-month",
        *(f"  {note}" for note in costs.notes),
    ]
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(round(value, 3) if isinstance(value, float) else value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def save_section(path: Path, section: str, values: dict[str, Any], today: date | None = None) -> None:
    """Write one benchmark's section into the unit-cost file, keeping the others."""
    data: dict[str, Any] = {}
    if path.exists():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    data[section] = {"measured_on": (today or date.today()).isoformat(), **values}
    out = [HEADER]
    for name in sorted(data, key=lambda s: (list(REQUIRED).index(s) if s in REQUIRED else len(REQUIRED), s)):
        out.append(f"\n[{name}]\n")
        out.extend(f"{key} = {_toml_value(value)}\n" for key, value in data[name].items())
    path.write_text("".join(out), encoding="utf-8")
