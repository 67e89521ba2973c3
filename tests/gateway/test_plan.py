"""X6 — `callgate plan`: the arithmetic on the unit costs, the unit-cost file the benchmarks
write, and the command as a user runs it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest

from gateway.batch.plan import (
    GIB,
    Assumptions,
    UnitCosts,
    UnitCostsError,
    load_unit_costs,
    plan,
    save_section,
    shard_counts,
)
from gateway.cli.commands import UNIT_COSTS
from gateway.services.lookup import CALL_TTL

#: Round numbers, so that each expected value below can be worked out by hand.
COSTS = UnitCosts(
    bytes_per_subscriber=100,
    bytes_per_call_memory_key=100,
    lookups_per_s_per_process=1000,
    bytes_per_call_answer=1000,
    seconds_per_million=100,
    pg_bytes_per_subscriber_month=1000,
)


def test_thirty_million_subscribers_at_two_thousand_calls_per_second() -> None:
    # rule X6: Redis memory and masters, gateway processes, PostgreSQL per month, evaluation per shards
    result = plan(COSTS, 30_000_000, 2000, 4)
    calls = 2000 * (7200 * 100 + CALL_TTL * 1000)  # the peak held for the call memory's 2 h
    assert result.redis_cache_bytes == 3e9 and result.redis_calls_bytes == calls
    assert result.redis_bytes == 3e9 + calls
    assert result.redis_masters == 3  # 10 GB with headroom ×2 fits two 8 GiB masters: a cluster has 3
    assert result.gateway_processes == 4  # 2,000 lookups/s at half of 1,000/s each
    assert result.gateway_hosts == 2  # one host would do; one may fail
    assert result.pg_bytes_per_month == 3e10
    assert result.evaluation_s == {1: 3000.0, 2: 1500.0, 4: 750.0}


@pytest.mark.parametrize(
    ("subscribers", "calls", "assume", "masters", "processes", "hosts"),
    [
        pytest.param(
            300_000_000, 2000, Assumptions(), math.ceil((3e10 + 2.04e9) * 2 / (8 * GIB)), 4, 2,
            id="memory decides the masters beyond three",
        ),
        pytest.param(
            1_000_000, 20_000, Assumptions(), math.ceil((1e8 + 2.04e10) * 2 / (8 * GIB)), 40, 5,
            id="the call rate decides processes and hosts (8 per host), and the call memory the masters",
        ),
        pytest.param(
            1_000_000, 100, Assumptions(headroom=1, cores_per_host=2), 3, 2, 2,
            id="a quiet province still gets two processes on two hosts and a three-master cluster",
        ),
        pytest.param(
            300_000_000, 2000, Assumptions(redis_master_gb=32, headroom=1), 3, 2, 2,
            id="bigger masters without headroom: the eight masters above become three",
        ),
    ],
)  # fmt: skip
def test_what_decides_each_count(
    subscribers: int, calls: int, assume: Assumptions, masters: int, processes: int, hosts: int
) -> None:
    # rule X6
    result = plan(COSTS, subscribers, calls, 1, assume)
    assert (result.redis_masters, result.gateway_processes, result.gateway_hosts) == (
        masters,
        processes,
        hosts,
    )


def test_shard_counts_double_up_to_the_asked_number() -> None:
    assert shard_counts(1) == [1]
    assert shard_counts(2) == [1, 2]
    assert shard_counts(6) == [1, 2, 4, 6]
    assert shard_counts(8) == [1, 2, 4, 8]


def test_nonsense_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        plan(COSTS, 0, 2000)


def test_each_benchmark_writes_its_own_section_and_keeps_the_others(tmp_path: Path) -> None:
    # rule X6: the unit costs come from the benchmarks, in a file next to them
    path = tmp_path / "unit_costs.toml"
    save_section(path, "lookup", {"lookups_per_s_per_process": 1234.5678, "bytes_per_call_answer": 700.0})
    with pytest.raises(UnitCostsError, match=r"\[cache_memory\] bytes_per_subscriber .*bench_cache_memory"):
        load_unit_costs(path)
    save_section(
        path,
        "cache_memory",
        {"note": 'small "province"', "bytes_per_subscriber": 114.5, "bytes_per_call_memory_key": 117},
        today=date(2026, 12, 6),
    )
    save_section(path, "evaluation", {"seconds_per_million": 90.0, "pg_bytes_per_subscriber_month": 800.0})
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert list(data) == ["cache_memory", "lookup", "evaluation"]
    assert (
        data["cache_memory"]["measured_on"] == "2026-12-06"
        and data["cache_memory"]["note"] == 'small "province"'
    )
    costs = load_unit_costs(path)
    assert (costs.bytes_per_subscriber, costs.lookups_per_s_per_process) == (114.5, 1234.568)
    save_section(path, "lookup", {"lookups_per_s_per_process": -1, "bytes_per_call_answer": 700.0})
    with pytest.raises(UnitCostsError, match=r"\[lookup\] lookups_per_s_per_process"):
        load_unit_costs(path)


def test_the_committed_unit_costs_were_measured() -> None:
    # rule X6: the repository's file holds every section, each naming its benchmark and machine
    costs = load_unit_costs(UNIT_COSTS)
    data = tomllib.loads(UNIT_COSTS.read_text(encoding="utf-8"))
    for section in ("cache_memory", "lookup", "evaluation"):
        assert data[section]["measured_by"] == f"benchmarks/bench_{section}.py"
        assert data[section]["note"] and data[section]["measured_on"]
    assert costs.bytes_per_subscriber < 150  # SPEC §7's cache goal, as measured


def run_plan(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The command needs no store; the data dir only keeps the log key out of the work tree.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env["CALLGATE_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "plan", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_command_prints_the_plan_and_the_unit_costs_it_used(tmp_path: Path) -> None:
    # rule X6
    path = tmp_path / "costs.toml"
    save_section(path, "cache_memory", {"bytes_per_subscriber": 100, "bytes_per_call_memory_key": 100})
    save_section(path, "lookup", {"lookups_per_s_per_process": 1000, "bytes_per_call_answer": 1000})
    save_section(path, "evaluation", {"seconds_per_million": 100, "pg_bytes_per_subscriber_month": 1000})
    args = [
        "--subscribers",
        "30000000",
        "--peak-calls-per-s",
        "2000",
        "--shards",
        "2",
        "--unit-costs",
        str(path),
    ]
    done = run_plan(args, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "plan for 30,000,000 subscribers, 2,000 calls/s at the peak"
    assert "3 masters + 3 replicas" in done.stdout
    assert "gateway       4 processes on 2 hosts" in done.stdout
    assert "PostgreSQL    27.9 GiB per month" in done.stdout  # 3e10 bytes
    assert "evaluation    1 shard: 50.0 min, 2 shards: 25.0 min" in done.stdout
    assert "1,000 lookups/s per process" in done.stdout

    missing = run_plan([*args[:-1], str(tmp_path / "none.toml")], tmp_path)
    assert missing.returncode == 1 and "cannot read the unit costs" in missing.stderr
    default = run_plan(args[:-2], tmp_path)  # the repository's measured file
    assert default.returncode == 0 and "masters" in default.stdout
